"""The event log over HTTP (GET /v1/events): pages of events, and a live feed
(Server-Sent Events) that reconnects where it left off."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any

import aiohttp

from broker.client_http import RETRIED, ApiError, Transport, backoff, raise_for_status, with_query
from broker.sse import SseDecoder

EVENT_STREAM = "text/event-stream"
Types = str | Iterable[str] | None  # event types: "a,b" or ["a", "b"]; None: every type
Item = dict[str, Any]  # {cursor, id, type, at (epoch ms), partition, position, data}
LOST = (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)


def type_list(types: Types) -> str | None:
    """types=("SubmissionApproved", "PayoutIssued") as the query wants it: comma-separated."""
    return types if types is None or isinstance(types, str) else ",".join(types)


class RecentIds:
    """The last `size` ids seen: enough to drop what a resumed stream sends again."""

    def __init__(self, size: int = 10_000) -> None:
        self._order: deque[str] = deque()
        self._ids: set[str] = set()
        self._size = size

    def first_time(self, item_id: str) -> bool:
        if item_id in self._ids:
            return False
        self._ids.add(item_id)
        self._order.append(item_id)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())
        return True


class EventFeed(Transport):
    async def events_page(self, after: str | None = None, limit: int = 100,
                          types: Types = None, *, actor_id: str | None = None) -> Item:  # fmt: skip
        """One page of the log: {items, next_cursor, has_more}. after: an item's or a
        page's cursor, "latest" (from now on) or None (from the start); types: only these
        event types; actor_id: whose events (operators; others see their own)."""
        params = {"after": after, "limit": limit, "types": type_list(types), "actor_id": actor_id}
        return await self.call("GET", with_query("/v1/events", params))

    async def events(self, after: str | None = None, limit: int = 100, types: Types = None, *,
                     actor_id: str | None = None) -> AsyncIterator[Item]:  # fmt: skip
        """Every event after `after`, oldest first, fetched `limit` a page; ends once
        caught up. Each item's cursor resumes right after it."""
        cursor = after
        while True:
            page = await self.events_page(cursor, limit, types, actor_id=actor_id)
            for item in page["items"]:
                yield item
            if not page.get("has_more"):
                return
            cursor = page["next_cursor"]

    async def follow_events(self, after: str | None = None, types: Types = None, *,
                            actor_id: str | None = None) -> AsyncIterator[Item]:  # fmt: skip
        """Events as they happen, forever (Server-Sent Events). A lost connection, or no
        byte for `timeout` seconds (the server pings more often), is reopened after a
        jittered backoff from the last cursor seen; no item is yielded twice. Until the
        first connection succeeds, failures count against `retries`, as for any call:
        a wrong URL fails fast, a restarting server is waited for."""
        seen = RecentIds()
        cursor = after
        if cursor == "latest":  # pinned to a cursor: a reconnection must not skip ahead
            page = await self.events_page("latest", 1, types, actor_id=actor_id)
            for item in page["items"]:
                seen.first_time(item["id"])
                yield item
            cursor = page.get("next_cursor") or "latest"
        connected, failures = False, 0
        while True:
            decoder, retry_after = SseDecoder(), None
            try:
                async with self._open_feed(cursor, types, actor_id) as response:
                    if response.status in RETRIED and (connected or failures < self.retries):
                        retry_after = response.headers.get("Retry-After")
                    else:
                        await raise_for_status(response)
                        if response.content_type != EVENT_STREAM:
                            raise ApiError(response.status, "not_an_event_stream",
                                           f"the server answered {response.content_type}")
                        connected = True
                        async for chunk in response.content.iter_any():
                            failures = 0  # reset by bytes, not by a 200 that then ends
                            for event in decoder.feed(chunk):
                                item = json.loads(event.data)
                                cursor = event.id or item.get("cursor") or cursor
                                if seen.first_time(item.get("id") or cursor):
                                    yield item
            except LOST:
                if not connected and failures >= self.retries:
                    raise
            if retry_after is None and decoder.retry_ms is not None:
                retry_after = str(decoder.retry_ms / 1000)
            await asyncio.sleep(backoff(failures, retry_after))
            failures += 1

    def _open_feed(self, cursor: str | None, types: Types, actor_id: str | None) -> Any:
        params = {"after": cursor, "types": type_list(types), "actor_id": actor_id}
        headers = {"Accept": EVENT_STREAM, **self.auth()}
        if cursor not in (None, "latest"):
            headers["Last-Event-ID"] = cursor
        # No total timeout (the stream never ends); a silent socket is a lost connection.
        idle = self._timeout.total
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=idle, sock_read=idle)
        return self.session.get(self.base_url + with_query("/v1/events", params),
                                headers=headers, timeout=timeout)  # fmt: skip
