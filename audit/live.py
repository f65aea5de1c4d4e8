"""A consistent snapshot of the live views: per view, its stored offsets and its digest.

The views worker moves a view's data and its offsets in one atomic step, but a busy
system (a timer firing every 100 ms) never holds still long enough for a client-side
scan to see one state. So each view is read by one Lua script, atomic like the worker's
own writes: its offsets hash and every key under its prefix, normalised exactly as
`RedisStore.dump` does, then digested with `consumers.stores.store.digest_of`. Redis is blocked
for the read (a few microseconds per key); on huge views, audit a quiet system.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from consumers.stores.ops import is_offsets_key, offsets_key
from consumers.stores.redis_store import RedisStore
from consumers.stores.store import Dumped, digest_of, format_score
from consumers.views import registry

# KEYS inside a script is fine on a single non-cluster server, as for the worker's script.
READ_VIEW_LUA = """
local keys = redis.call('KEYS', ARGV[1])
local out = {}
for i, k in ipairs(keys) do
  local t = redis.call('TYPE', k).ok
  local v = {}
  if t == 'hash' then v = redis.call('HGETALL', k)
  elseif t == 'set' then v = redis.call('SMEMBERS', k)
  elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES') end
  out[i] = {k, t, v}
end
return {redis.call('HGETALL', KEYS[1]), out}
"""
_GLOB = re.compile(r"([*?\[\]\\])")


@dataclass(frozen=True)
class LiveViews:
    offsets: dict[str, dict[int, int]]  # per view, its stored positions (`pw:{view}:offsets`)
    digests: dict[str, str]


def _pairs(flat: list[str]) -> list[tuple[str, str]]:
    return list(zip(flat[::2], flat[1::2], strict=True))


def _dumped(keys: list[list]) -> Iterator[Dumped]:
    for key, kind, flat in sorted(keys, key=lambda item: item[0]):
        if is_offsets_key(key):
            continue
        if kind == "hash":
            yield key, "h", sorted(_pairs(flat))
        elif kind == "set":
            yield key, "s", [(m, "") for m in sorted(flat)]
        elif kind == "zset":
            yield key, "z", sorted((m, format_score(float(s))) for m, s in _pairs(flat))
        else:
            raise TypeError(f"{key}: views hold no {kind} keys")


def snapshot(store: RedisStore,
             views: Iterable[str] = tuple(v.name for v in registry.AUDITED)) -> LiveViews:
    read = store.client.register_script(READ_VIEW_LUA)
    offsets, found = {}, {}
    for view in views:
        pattern = _GLOB.sub(r"\\\1", registry.BY_NAME[view].prefix) + "*"
        stored, keys = read(keys=[offsets_key(view)], args=[pattern])
        offsets[view] = {int(p): int(o) for p, o in _pairs(stored)}
        found[view] = digest_of(_dumped(keys))
    return LiveViews(offsets, found)
