"""Where the views are, read from the view store itself, never from the consumer group.

Kafka Streams' checkpoint idea: the store, whose positions are written atomically with its
data, says where each view is. The group's committed offsets only serve monitoring (lag).
On a fresh or flushed Redis nothing is stored, so the worker reads from the beginning.

A flush while the worker runs is caught with an epoch token, `pw:views:epoch`: read (or
created) in the same MULTI as the stored positions when partitions are assigned, and
compared inside the very Lua call that applies each batch. Without that guard a batch
applied just after a flush would store its positions on an empty view, and the rebuild
would then skip every event before it. Once the token changed nothing more is applied:
`StoreFlushed` is raised and the worker restarts into a rebuild.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence

import redis

from consumers.stores.ops import Entry, offsets_key
from consumers.stores.redis_store import APPLY_LUA, RedisStore, _wire
from consumers.views import registry
from schemas.positions import offset_of

EPOCH_KEY = "pw:views:epoch"
# Prepended to the store's own script: same wire format, one round trip, atomic with it.
GUARD_LUA = "if redis.call('GET', KEYS[1]) ~= ARGV[2] then return -1 end\n"


class StoreFlushed(RuntimeError):
    """The view store lost its epoch (FLUSHALL, FLUSHDB, a fresh server): rebuild."""


def next_offsets(
    stored: Iterable[Mapping[int, int]], partitions: Iterable[int]
) -> dict[int, int | None]:
    """Per partition, the offset to read next, or None (from the log start) when a view
    stored nothing for it. Views store positions (schemas.positions), which do not say
    whether the least advanced view got to the end of its record, so that record is read
    again: the store skips every entry at or below a view's position."""
    views = list(stored)
    found: dict[int, int | None] = {}
    for p in partitions:
        if views and all(p in view for view in views):
            found[p] = offset_of(min(view[p] for view in views))
        else:
            found[p] = None
    return found


class PositionedStore(RedisStore):
    """A RedisStore that applies only while the epoch it started with is still there."""

    def __init__(self, client: redis.Redis, views: Sequence[str] = tuple(registry.BY_NAME)) -> None:
        super().__init__(client)
        self.views = tuple(views)
        self.epoch: str | None = None
        self._guarded = client.register_script(GUARD_LUA + APPLY_LUA)

    @classmethod
    def from_url(cls, url: str) -> PositionedStore:
        return cls(redis.Redis.from_url(url, decode_responses=True))

    def positions(self, partitions: Iterable[int]) -> dict[int, int | None]:
        """Next offset per partition, with the epoch taken atomically with the offsets.

        The first call adopts the epoch (creating it on an empty store); a later call that
        finds another one means the store was flushed under this process: StoreFlushed.
        """
        pipe = self.client.pipeline(transaction=True)
        pipe.set(EPOCH_KEY, uuid.uuid4().hex, nx=True)
        pipe.get(EPOCH_KEY)
        for view in self.views:
            pipe.hgetall(offsets_key(view))
        _, epoch, *stored = pipe.execute()
        self._adopt(epoch)
        return next_offsets(({int(p): int(o) for p, o in s.items()} for s in stored), partitions)

    def check_epoch(self) -> None:
        if self.epoch is not None:
            self._adopt(self.client.get(EPOCH_KEY))

    def _adopt(self, epoch: str | None) -> None:
        if self.epoch is None and epoch is not None:
            self.epoch = epoch
        elif epoch != self.epoch:
            raise StoreFlushed(f"{EPOCH_KEY} is {epoch!r}, this worker started on {self.epoch!r}")

    def apply(self, entries: Sequence[Entry]) -> int:
        if not entries:
            return 0
        if self.epoch is None:
            raise RuntimeError("positions() must run (on assignment) before any apply")
        applied = int(self._guarded(keys=[EPOCH_KEY], args=[_wire(entries), self.epoch]))
        if applied < 0:
            self.check_epoch()  # raises with what the key holds now
            raise StoreFlushed(f"{EPOCH_KEY} changed during an apply")
        return applied
