"""Wake SSE streams when their actor's feed grows: one Redis pub/sub connection per API
process, subscribed to the feeds that have a stream open.

The views' apply script publishes on a feed's channel once per batch that touched it
(consumers/stores/redis_store.py), so a waiting stream reads as soon as its events are in
the view, without every stream polling Redis. A wake-up can still be missed (the
subscription is not active yet, Redis restarted), so readers also re-read every
FALLBACK_S: a missed one costs that much latency, never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

FALLBACK_S = 1.0
log = logging.getLogger(__name__)


class FeedWaker:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task | None = None

    @contextlib.asynccontextmanager
    async def watch(self, channel: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever `channel` is published to, while the block runs.
        Clear it before reading, so a publish during the read is not lost."""
        woke = asyncio.Event()
        waiters = self._waiters.setdefault(channel, set())
        first = not waiters
        waiters.add(woke)
        try:
            if first:
                await self._subscribe(channel)
            yield woke
        finally:
            waiters.discard(woke)
            if not waiters and self._waiters.get(channel) is waiters:
                del self._waiters[channel]
                if self._pubsub is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await self._pubsub.unsubscribe(channel)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()

    async def _subscribe(self, channel: str) -> None:
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await self._pubsub.subscribe(channel)
        except (RedisError, OSError) as exc:  # the fallback re-read covers it
            log.warning("feed wake-ups unavailable for now: %r", exc)
            return
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                message = await self._pubsub.get_message(timeout=FALLBACK_S)
            except (RedisError, OSError, RuntimeError) as exc:
                log.warning("feed wake-ups interrupted: %r", exc)
                await asyncio.sleep(FALLBACK_S)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode()
            for woke in self._waiters.get(channel, ()):
                woke.set()
