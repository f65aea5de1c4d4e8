"""GET /v1/events: the caller's own events after a cursor, as a JSON page or as
Server-Sent Events (consumers/queries/feed.py reads the feed view).

A requester sees everything about its tasks and money, a worker its claims, reviews,
credits and payouts; an operator names the actor (`?actor_id=`). No one else's event can
be asked for: the actor is the token's, and the feed is keyed by it.

With `Accept: text/event-stream` the answer is a stream: each event's SSE id is the
cursor just after it, so a client that reconnects with Last-Event-ID resumes exactly
there. The stream waits for new events on a Redis wake-up (queries/feed_waker.py), re-reads at
least every second, and sends a comment every KEEPALIVE_S so proxies keep it open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from broker.api.auth import Actor
from broker.api.responses import ApiError
from broker.api.routes import COMMON, route
from broker.api.services import Services
from consumers.queries import feed
from consumers.queries.feed_waker import RETRY_S, FeedWaker
from consumers.queries.listings import BadQuery, parse_limit
from consumers.views.feed import LEFT_OUT
from schemas.catalogue import EVENTS

READERS = ("requester", "worker", "operator")
FEED_TYPES = frozenset(cls.TYPE for cls in EVENTS.by_name.values()) - {c.TYPE for c in LEFT_OUT}
KEEPALIVE_S = 15.0
SSE_PAGE = 100
# Open streams per actor in one API process: a leaked client loop cannot pin every
# connection and Redis subscription of the process.
MAX_STREAMS_PER_ACTOR = 8
_open_streams: Counter[str] = Counter()
ERRORS = {**COMMON, 403: "workers and requesters read only their own events",
          406: "Accept names neither application/json nor text/event-stream",
          410: "the cursor is older than what the feed keeps (cursor_expired)"}


@dataclass(frozen=True)
class FeedEvent:
    cursor: str
    id: str
    type: str
    at: int
    partition: int
    position: int
    correlation_id: str
    data: dict[str, Any]


@dataclass(frozen=True)
class FeedPage:
    actor_id: str
    items: tuple[FeedEvent, ...]
    next_cursor: str
    has_more: bool


@dataclass(frozen=True)
class _Query:
    actor_id: str
    after: str | None
    limit: int
    types: frozenset[str] | None
    stream: bool


@route("GET", "/v1/events",
       "The caller's own events after a cursor: a JSON page, or Server-Sent Events",
       READERS, ok={200: "a page of events, or an event stream (Accept: text/event-stream)"},
       errors=ERRORS, query=("after", "limit", "types", "actor_id"),
       media=("application/json", "text/event-stream"), out=FeedPage,
       headers=("Last-Event-ID",))
async def events(request: web.Request, actor: Actor, svc: Services) -> web.StreamResponse:
    query = _query(request, actor)
    if query.stream:
        return await _stream(request, svc, query)
    items, after, more = await _read(svc, query.actor_id, query.after, query.limit, query.types)
    return web.json_response({"actor_id": query.actor_id, "items": [i.to_plain() for i in items],
                              "next_cursor": after, "has_more": more})


def _query(request: web.Request, actor: Actor) -> _Query:
    named = request.query.get("actor_id")
    if actor.role == "operator":
        if not named:
            raise ApiError(422, "actor_id_required", "operators name the actor_id")
        actor_id = named
    elif named and named != actor.actor_id:
        raise ApiError(403, "forbidden", "you read only your own events")
    else:
        actor_id = actor.actor_id
    try:
        limit = parse_limit(request.query.get("limit"))
    except BadQuery as exc:
        raise ApiError(422, "bad_query", str(exc)) from exc
    stream = _wants_stream(request.headers.get("Accept", ""))
    # Last-Event-ID is what a browser's EventSource sends on its own when it reconnects.
    after = request.headers.get("Last-Event-ID") if stream else None
    after = after or request.query.get("after") or None
    return _Query(actor_id, after, limit, _types(request.query.get("types")), stream)


def _wants_stream(accept: str) -> bool:
    kinds = {part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()}
    if "text/event-stream" in kinds:
        return True
    if kinds and not kinds & {"application/json", "application/*", "*/*"}:
        raise ApiError(406, "not_acceptable",
                       "this route answers application/json or text/event-stream")
    return False


def _types(text: str | None) -> frozenset[str] | None:
    if not text:
        return None
    wanted = frozenset(t.strip() for t in text.split(",") if t.strip())
    unknown = sorted(wanted - FEED_TYPES)
    if unknown:
        raise ApiError(422, "bad_query", f"unknown event types {unknown[:5]}; the feed has "
                       f"{sorted(FEED_TYPES)}")  # fmt: skip
    return wanted or None


async def _read(svc: Services, actor_id: str, after: str | None, limit: int,
                types: frozenset[str] | None) -> tuple[list[feed.FeedItem], str, bool]:  # fmt: skip
    partitions = svc.settings.partitions
    loop = asyncio.get_running_loop()
    try:
        if after == "latest":
            start = await loop.run_in_executor(None, feed.latest_cursor, svc.views, actor_id,
                                               partitions)  # fmt: skip
            return [], start, False
        return await loop.run_in_executor(None, feed.read_page, svc.views, actor_id, after,
                                          limit, partitions, types)  # fmt: skip
    except feed.BadCursor as exc:
        raise ApiError(422, "bad_cursor", str(exc)) from exc
    except feed.CursorExpired as exc:
        raise ApiError(410, "cursor_expired", str(exc)) from exc


def _waker(svc: Services) -> FeedWaker:
    if svc.feed_waker is None:
        svc.feed_waker = FeedWaker(svc.redis)
    return svc.feed_waker


async def _stream(request: web.Request, svc: Services, query: _Query) -> web.StreamResponse:
    if _open_streams[query.actor_id] >= MAX_STREAMS_PER_ACTOR:
        raise ApiError(429, "too_many_streams",
                       f"at most {MAX_STREAMS_PER_ACTOR} open event streams per actor",
                       retry_after=5)  # fmt: skip
    after = query.after
    if after == "latest":
        _, after, _ = await _read(svc, query.actor_id, after, 1, query.types)
    elif after:  # a bad or expired cursor is a JSON error, before the 200 of a stream
        await _read(svc, query.actor_id, after, 1, query.types)
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    _open_streams[query.actor_id] += 1
    try:
        await response.prepare(request)
        await response.write(b"retry: 1000\n\n")
        async with _waker(svc).watch(query.actor_id) as woke:
            await _pump(response, svc, query, after, woke)
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the client went away, or the server stops: the client resumes by its cursor
    finally:
        _open_streams[query.actor_id] -= 1
        if not _open_streams[query.actor_id]:
            del _open_streams[query.actor_id]
    return response


async def _pump(response: web.StreamResponse, svc: Services, query: _Query, after: str | None,
                woke: asyncio.Event) -> None:  # fmt: skip
    quiet_since = time.monotonic()
    while True:
        woke.clear()  # before the read: a publish during it wakes the next wait
        try:
            items, after, more = await _read(svc, query.actor_id, after, SSE_PAGE, query.types)
        except ApiError as exc:  # expired while streaming: say so, the client re-lists
            await response.write(_frame("error", None, {"code": exc.code,
                                                        "message": exc.message}))  # fmt: skip
            return
        except (RedisError, OSError):
            items, more = [], False  # Redis away for a moment: keep the stream, retry
        if items:
            await response.write(b"".join(_frame(i.type, i.cursor, i.to_plain()) for i in items))
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= KEEPALIVE_S:
            await response.write(b": ping\n\n")
            quiet_since = time.monotonic()
        if not more:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woke.wait(), RETRY_S)


def _frame(kind: str, event_id: str | None, data: dict[str, Any]) -> bytes:
    head = f"id: {event_id}\n" if event_id else ""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"{head}event: {kind}\ndata: {body}\n\n".encode()

