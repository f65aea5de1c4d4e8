"""Which URLs a webhook may call: http(s), bounded, no credentials, and by default only
public addresses, whether named literally or by a host name (SSRF)."""

from __future__ import annotations

import asyncio

import pytest

from consumers.webhooks.targets import (
    MAX_URL_CHARS,
    TargetRefused,
    address_refusal,
    check_target,
    parse_url,
)


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.0.0.8", "172.16.3.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1",
    "::ffff:10.0.0.1", "fe80::1%eth0",
])  # fmt: skip
def test_non_public_addresses_are_refused(address: str):
    assert address_refusal(address) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str):
    assert address_refusal(address) is None


@pytest.mark.parametrize(("url", "why"), [
    ("ftp://example.org/x", "http"),
    ("file:///etc/passwd", "http"),
    ("http://", "no host"),
    ("https://user:pw@example.org/", "credentials"),
    ("http://example.org:99999/", "port"),
    ("http://[::1/", "malformed"),
    ("http://exa mple.org/", "printable"),
    ("http://exämple.org/", "ASCII"),
    ("http://example.org/" + "a" * MAX_URL_CHARS, "longer"),
])  # fmt: skip
def test_malformed_or_unfit_urls_are_refused(url: str, why: str):
    with pytest.raises(TargetRefused, match=why):
        parse_url(url)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "http://[::1]/hook", "http://localhost/hook",
    "http://2130706433/hook",  # 127.0.0.1 as one decimal number: resolved, then refused
    "http://169.254.169.254/latest/meta-data/",
])  # fmt: skip
def test_private_targets_are_refused_unless_allowed(url: str):
    with pytest.raises(TargetRefused, match="refused"):
        asyncio.run(check_target(url, allow_private=False))
    assert asyncio.run(check_target(url, allow_private=True)).hostname


def test_a_public_literal_passes_without_any_lookup():
    assert asyncio.run(check_target("https://8.8.8.8/hook", allow_private=False)).port is None
