"""Wake a webhook's loop when its owner's feed grows, instead of every loop polling Redis.

The views' apply script publishes on a feed's base key once per batch that touched it
(consumers/stores/redis_store.py). One pub/sub connection follows the owners of enabled
webhooks. A wake-up can be missed (not subscribed yet, Redis restarted), so loops also
read again every PIECEWORK_WEBHOOK_POLL_MS: a missed one costs latency, never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
RETRY_S = 1.0


class Waker:
    def __init__(self, redis: Redis, channel_of: Callable[[str], str]) -> None:
        self._redis = redis
        self._channel_of = channel_of
        self._waiters: dict[str, set[asyncio.Event]] = {}  # channel -> its loops' events
        self._subscribed: set[str] = set()
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task | None = None

    def waiter(self, owner: str) -> asyncio.Event:
        """An event set whenever `owner`'s feed grows; clear it before reading."""
        woke = asyncio.Event()
        self._waiters.setdefault(self._channel_of(owner), set()).add(woke)
        return woke

    def forget(self, owner: str, woke: asyncio.Event) -> None:
        self._waiters.get(self._channel_of(owner), set()).discard(woke)

    def wake_all(self) -> None:
        for events in self._waiters.values():
            for woke in events:
                woke.set()

    async def follow(self, owners: Iterable[str]) -> None:
        """Be subscribed to exactly these owners' feeds."""
        wanted = {self._channel_of(owner) for owner in owners}
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            if wanted - self._subscribed:
                await self._pubsub.subscribe(*sorted(wanted - self._subscribed))
            if self._subscribed - wanted:
                await self._pubsub.unsubscribe(*sorted(self._subscribed - wanted))
            self._subscribed = wanted
        except (RedisError, OSError) as exc:  # the loops' polling covers it
            log.warning("feed wake-ups unavailable for now: %r", exc)
            return
        if self._subscribed and (self._listener is None or self._listener.done()):
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()

    async def _listen(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                message = await self._pubsub.get_message(timeout=RETRY_S)
            except (RedisError, OSError, RuntimeError) as exc:
                log.warning("feed wake-ups interrupted: %r", exc)
                await asyncio.sleep(RETRY_S)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode()
            for woke in self._waiters.get(channel, ()):
                woke.set()
