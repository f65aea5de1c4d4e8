"""One delivery attempt: an HTTP POST with a deadline, a bounded read and no redirects.

Any 2xx is a success; anything else (another status, a timeout, no connection, a refused
address) is a failure with a short reason, which the delivery record keeps.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from consumers.webhooks.targets import address_refusal, literal_address

# Enough to let a small answer end the response cleanly (the connection is kept); a
# longer one is not read further, and the connection is closed instead.
MAX_RESPONSE_BYTES = 64 * 1024
MAX_ERROR_CHARS = 300
Outcomes = ("delivered", "http_error", "timeout", "connection_error", "refused_target")


class RefusedAddress(OSError):
    """A name resolved to an address webhooks may not call (see targets.py)."""


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp, then refuses names with a non-public address: the check is
    on the very addresses the connection will use, so DNS rebinding cannot slip past."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self.inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:  # fmt: skip
        found = await self.inner.resolve(host, port, family)
        for result in found:
            reason = address_refusal(result["host"])
            if reason:
                raise RefusedAddress(f"{host} resolves to a refused address: {reason}")
        return found

    async def close(self) -> None:
        await self.inner.close()


@dataclass(frozen=True, slots=True)
class Outcome:
    label: str  # one of Outcomes: the metric's label
    http_status: int | None
    error: str | None
    latency_ms: int

    @property
    def ok(self) -> bool:
        return self.label == "delivered"


def session(timeout_ms: int, allow_private: bool) -> aiohttp.ClientSession:
    """One client for every webhook: connections kept per host, no pool limit (each
    webhook has at most one attempt in flight), no proxy or .netrc from the environment."""
    connector = aiohttp.TCPConnector(
        limit=0, resolver=None if allow_private else GuardedResolver(), ttl_dns_cache=10)
    return aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=False,
                                 timeout=aiohttp.ClientTimeout(total=timeout_ms / 1000))


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


async def _drain(response: aiohttp.ClientResponse) -> None:
    read = 0
    while read <= MAX_RESPONSE_BYTES:
        chunk = await response.content.read(MAX_RESPONSE_BYTES + 1 - read)
        if not chunk:
            return
        read += len(chunk)


async def post(client: aiohttp.ClientSession, url: str, payload: bytes,
               headers: dict[str, str], allow_private: bool) -> Outcome:  # fmt: skip
    started = time.monotonic()

    def done(label: str, status: int | None, error: str | None) -> Outcome:
        return Outcome(label, status, error and _short(error),
                       round(1000 * (time.monotonic() - started)))

    host = URL(url).host or ""
    literal = literal_address(host)
    if not allow_private and literal is not None and (reason := address_refusal(literal)):
        return done("refused_target", None, reason)
    try:
        async with client.post(url, data=payload, headers=headers,
                               allow_redirects=False) as response:  # fmt: skip
            status = response.status
            await _drain(response)
    except TimeoutError:
        timeout: Any = client.timeout.total
        return done("timeout", None, f"no answer within {timeout:g} s")
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, RefusedAddress):
            return done("refused_target", None, str(exc.os_error))
        return done("connection_error", None, f"cannot connect: {exc.os_error}")
    except (aiohttp.ClientError, OSError) as exc:
        return done("connection_error", None, f"{type(exc).__name__}: {exc}")
    if 200 <= status < 300:
        return done("delivered", status, None)
    if 300 <= status < 400:
        return done("http_error", status, f"HTTP {status} (redirects are not followed)")
    return done("http_error", status, f"HTTP {status}")
