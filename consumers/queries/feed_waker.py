"""Wake a feed's readers when it grows, instead of every reader polling Redis: the API's
SSE streams (`watch`) and the webhook sender's loops (`follow` the owners of enabled
webhooks, `waiter` per loop).

The views' apply script publishes on a feed's base key once per batch that touched it
(consumers/stores/redis_store.py); one pub/sub connection per process follows the feeds
it reads. A wake-up can be missed (not subscribed yet, Redis restarted), so readers also
read again on a timer (RETRY_S for SSE, PIECEWORK_WEBHOOK_POLL_MS for webhooks): a
missed one costs latency, never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from consumers.views.feed import feed_base

log = logging.getLogger(__name__)
RETRY_S = 1.0


class FeedWaker:
    def __init__(self, redis: Redis, channel_of: Callable[[str], str] = feed_base) -> None:
        self._redis = redis
        self._channel_of = channel_of
        self._waiters: dict[str, set[asyncio.Event]] = {}  # channel -> its loops' events
        self._subscribed: set[str] = set()
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task | None = None
        self._following = asyncio.Lock()

    def waiter(self, owner: str) -> asyncio.Event:
        """An event set whenever `owner`'s feed grows; clear it before reading."""
        woke = asyncio.Event()
        self._waiters.setdefault(self._channel_of(owner), set()).add(woke)
        return woke

    def forget(self, owner: str, woke: asyncio.Event) -> None:
        channel = self._channel_of(owner)
        waiters = self._waiters.get(channel, set())
        waiters.discard(woke)
        if not waiters:
            self._waiters.pop(channel, None)

    @contextlib.asynccontextmanager
    async def watch(self, owner: str) -> AsyncIterator[asyncio.Event]:
        """A waiter for one reader (an SSE stream), subscribed while the block runs: the
        process follows exactly the feeds some reader waits on."""
        woke = self.waiter(owner)
        try:
            await self._subscribe_exactly(set(self._waiters))
            yield woke
        finally:
            self.forget(owner, woke)
            await self._subscribe_exactly(set(self._waiters))

    def wake_all(self) -> None:
        for events in self._waiters.values():
            for woke in events:
                woke.set()

    async def follow(self, owners: Iterable[str]) -> None:
        """Be subscribed to exactly these owners' feeds."""
        await self._subscribe_exactly({self._channel_of(owner) for owner in owners})

    async def _subscribe_exactly(self, wanted: set[str]) -> None:
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            async with self._following:  # concurrent streams: no change computed on a stale set
                if wanted - self._subscribed:
                    await self._pubsub.subscribe(*sorted(wanted - self._subscribed))
                if self._subscribed - wanted:
                    await self._pubsub.unsubscribe(*sorted(self._subscribed - wanted))
                self._subscribed = wanted
        except (RedisError, OSError) as exc:  # the readers' timed re-reads cover it
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
