"""The client's transport: one session, one call with retries, cursor-paged listings.

Every call carries an Idempotency-Key, the caller's or a random one, reused on retry, so a
request that timed out can be sent again without doing the work twice.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any, Self
from urllib.parse import quote, urlencode

import aiohttp


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def segment(value: str) -> str:
    """A path segment as typed: '/' or '?' in an id must not reach another route."""
    return quote(value, safe="")


def with_query(path: str, params: dict[str, Any]) -> str:
    """path?params, leaving out the parameters that are None."""
    query = {k: v for k, v in params.items() if v is not None}
    return f"{path}?{urlencode(query)}" if query else path


RETRIED = frozenset({429, 503})  # the server says: not now; the same request may succeed
MAX_WAIT_S = 30.0


def backoff(attempt: int, retry_after: str | None) -> float:
    """Seconds before the next try: the server's Retry-After (seconds) when it sent one,
    else 0.2 s doubled per attempt; scaled by a random 0.5-1.5 so that clients told to
    come back together do not all come back at once."""
    try:
        base = float(retry_after) if retry_after is not None else 0.2 * 2**attempt
    except ValueError:  # an HTTP date, or garbage: fall back to our own schedule
        base = 0.2 * 2**attempt
    return min(MAX_WAIT_S, max(0.0, base)) * random.uniform(0.5, 1.5)


async def raise_for_status(response: aiohttp.ClientResponse) -> None:
    """ApiError from an error response's JSON body ({code, message})."""
    if response.status >= 400:
        try:
            data = await response.json(content_type=None)
        except ValueError:  # not JSON: a proxy's page, say
            data = None
        data = data if isinstance(data, dict) else {}
        raise ApiError(response.status, data.get("code", "?"), data.get("message", ""))


class Transport:
    def __init__(
        self, base_url: str, token: str | None = None, *, retries: int = 3, timeout: float = 30
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.retries = retries
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        connector = aiohttp.TCPConnector(limit=256)
        self._session = aiohttp.ClientSession(timeout=self._timeout, connector=connector)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use `async with Client(...)`"
        return self._session

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def call(self, method: str, path: str, body: Any = None, *,
                   idempotency_key: str | None = None) -> Any:  # fmt: skip
        """One API call. 429, 503 and connection errors are tried again with the same
        Idempotency-Key, after the server's Retry-After or an exponential backoff, jittered.
        idempotency_key: the caller's own (1-100 printable ASCII), to make a command safe to
        send again from another process or after a crash; default a random one per call."""
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex, **self.auth()}
        for attempt in range(self.retries + 1):
            try:
                async with self.session.request(
                    method, self.base_url + path, json=body, headers=headers
                ) as response:
                    if response.status == 204:
                        return None
                    data = await response.json(content_type=None)
                    if response.status in RETRIED and attempt < self.retries:
                        await asyncio.sleep(backoff(attempt, response.headers.get("Retry-After")))
                        continue
                    if response.status >= 400:
                        code, message = data.get("code", "?"), data.get("message", "")
                        raise ApiError(response.status, code, message)
                    return data
            except (TimeoutError, aiohttp.ClientConnectionError):
                if attempt >= self.retries:
                    raise
                await asyncio.sleep(backoff(attempt, None))
        raise AssertionError("unreachable")

    async def command(self, method: str, path: str, body: Any = None,
                      idempotency_key: str | None = None) -> Any:  # fmt: skip
        """call() for a command. The key is passed on only when given, so a subclass that
        overrides call(method, path, body) (the simulation's TrackedClient) still works."""
        if idempotency_key is None:
            return await self.call(method, path, body)
        return await self.call(method, path, body, idempotency_key=idempotency_key)

    async def pages(self, path: str, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Every item of a cursor-paged listing, fetching one page at a time."""
        query = dict(params)
        while True:
            found = await self.call("GET", with_query(path, query))
            for item in found["items"]:
                yield item
            if found.get("next_cursor") is None:
                return
            query["cursor"] = found["next_cursor"]
