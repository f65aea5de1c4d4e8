"""Which URLs a webhook may target: checked when it is created and again at each delivery.

A webhook makes piecework's network call a URL its owner chose, so by default only
public addresses are reachable: loopback, private, link-local (cloud metadata at
169.254.169.254), shared, multicast and reserved ones are refused (SSRF), whether named
by a literal address or by a host name that resolves to one. The delivery side checks the
addresses it actually connects to (attempt.GuardedResolver), so a name that resolved to a
public address at creation and to a private one later (DNS rebinding) is still refused.
PIECEWORK_WEBHOOK_ALLOW_PRIVATE=1 lifts the rule, for tests and the local demo.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

MAX_URL_CHARS = 2_000
SCHEMES = ("http", "https")
RESOLVE_TIMEOUT_S = 5.0


class TargetRefused(ValueError):
    """The URL or the address is not one a webhook may call; the message says why."""


def parse_url(url: str) -> SplitResult:
    """The URL's parts if it may be a webhook's target (before any name is resolved)."""
    if len(url) > MAX_URL_CHARS:
        raise TargetRefused(f"url is longer than {MAX_URL_CHARS} characters")
    if not url.isascii() or not url.isprintable() or " " in url:
        raise TargetRefused("url must be printable ASCII without spaces (IDNA-encode names)")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed [IPv6 literal
        raise TargetRefused(f"url is malformed: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise TargetRefused("url must be http:// or https://")
    if not parts.hostname:
        raise TargetRefused("url has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("url must not carry credentials: deliveries are signed instead")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise TargetRefused(f"url has a bad port: {exc}") from None
    return parts


def port_of(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def address_refusal(address: str) -> str | None:
    """Why a webhook may not connect to `address` (an IP literal), or None if it may."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_multicast or ip.is_reserved:
        return f"{ip} is not a public address (loopback, private, link-local or reserved)"
    return None


def literal_address(host: str) -> str | None:
    """The host itself if it is an IP literal (aiohttp connects to those unresolved)."""
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%", 1)[0]))
    except ValueError:
        return None


async def check_target(url: str, allow_private: bool) -> SplitResult:
    """parse_url, then resolve the host and refuse it if any of its addresses is not
    public (unless allowed). Raises TargetRefused."""
    parts = parse_url(url)
    if allow_private:
        return parts
    host = parts.hostname or ""
    literal = literal_address(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(
                host, port_of(parts), type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S)
        except TimeoutError:
            raise TargetRefused(f"url's host {host!r} did not resolve within"
                                f" {RESOLVE_TIMEOUT_S:g} s") from None  # fmt: skip
        except (OSError, UnicodeError) as exc:
            raise TargetRefused(f"url's host {host!r} does not resolve: {exc}") from None
        addresses = sorted({str(info[4][0]) for info in infos})
    for address in addresses:
        reason = address_refusal(address)
        if reason:
            raise TargetRefused(f"url's host {host!r} is refused: {reason}")
    return parts
