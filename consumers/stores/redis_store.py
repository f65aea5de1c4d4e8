"""Redis view store: one Lua script applies a whole batch of entries atomically.

The script skips every entry whose position is at or below the one stored for its
partition (hash `pw:{view}:offsets`), so at-least-once redelivery is a no-op. Every
value travels as a string: Lua 5.1 numbers are doubles, which would round amounts,
offsets and scores if they crossed the script as numbers.
Commands used, all present in Redis 7.0: EVALSHA/EVAL, HGET, HMGET, HSET, HSETNX,
HINCRBY, HDEL, ZADD, ZREM, ZCARD, ZPOPMIN, PUBLISH, SADD, SREM, HVALS, HGETALL, SMEMBERS,
SMISMEMBER (6.2+), ZRANGE, ZRANGEBYSCORE, SCAN, TYPE.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import msgpack
import redis

from consumers.stores.ops import COMMANDS, Entry, is_offsets_key
from consumers.stores.store import Dumped, Scored, Window, digest_of, format_score

# No shebang on purpose: without one, Redis 7.0 lets a script touch undeclared keys
# (the view keys depend on the events), which is fine on a single, non-cluster server.
APPLY_LUA = (
    "local allowed = {"
    + ", ".join(f"{name} = true" for name in sorted(COMMANDS))
    + "}"
    + """
local entries = cmsgpack.unpack(ARGV[1])
for i = 1, #entries do
  for _, op in ipairs(entries[i][4]) do
    if not allowed[op[1]] then return redis.error_reply('unknown op ' .. tostring(op[1])) end
  end
end
local last, applied, woken = {}, 0, {}
for i = 1, #entries do
  local e = entries[i]
  local okey, part, off = e[1], e[2], tonumber(e[3])
  local slot = okey .. '|' .. part
  local cur = last[slot]
  if cur == nil then cur = tonumber(redis.call('HGET', okey, part)) or -1 end
  if off > cur then
    for _, op in ipairs(e[4]) do
      if op[1] == 'FEED' then
        local zkey = op[2] .. ':' .. part
        redis.call('ZADD', zkey, e[3], op[3])
        if redis.call('ZCARD', zkey) > tonumber(op[4]) then
          local gone = redis.call('ZPOPMIN', zkey)
          redis.call('HSET', op[2] .. ':floor', part, gone[2])
        end
        woken[op[2]] = true
      elseif op[1] == 'ZMIN' then
        local least, text = nil, nil
        for _, v in ipairs(redis.call('HVALS', op[2])) do
          local n = tonumber(v)
          if least == nil or n < least then least, text = n, v end
        end
        if text then redis.call('ZADD', op[3], text, op[4])
        else redis.call('ZREM', op[3], op[4]) end
      elseif op[1] == 'HSETSHARED' then
        redis.call('HSETNX', op[2], op[3], op[5])
        if redis.call('HGET', op[2], op[3]) == op[5] then
          redis.call('HDEL', op[2], op[4])
        else
          redis.call('HSET', op[2], op[4], op[5])
        end
      elseif op[1] == 'ZSYNC' then
        local p = op[4] or ''
        local meta = redis.call('HMGET', op[2], p .. 'free', p .. 'zset', p .. 'score',
                                p .. 'tally', p .. 'counted', '~zset', '~score', '~tally')
        meta[2], meta[3], meta[4] = meta[2] or meta[6], meta[3] or meta[7], meta[4] or meta[8]
        if meta[2] and meta[3] then
          local free = tonumber(meta[1]) or 0
          if free > 0 then
            redis.call('ZADD', meta[2], meta[3], op[3])
          else
            redis.call('ZREM', meta[2], op[3])
          end
          if meta[4] then
            local now, before = math.max(free, 0), tonumber(meta[5]) or 0
            if now ~= before then
              local tally = meta[4]
              redis.call('HINCRBY', tally, 'free', now - before)
              if (now > 0) ~= (before > 0) then
                redis.call('HINCRBY', tally, 'open_tasks', now > 0 and 1 or -1)
              end
              if now > 0 then
                redis.call('HSET', op[2], p .. 'counted', now)
              else
                redis.call('HDEL', op[2], p .. 'counted')
              end
              local t = redis.call('HMGET', tally, 'free', 'zset', 'score', 'group_id')
              if t[2] and t[3] and t[4] then
                if (tonumber(t[1]) or 0) > 0 then
                  redis.call('ZADD', t[2], t[3], t[4])
                else
                  redis.call('ZREM', t[2], t[4])
                end
              end
            end
          end
        end
      else
        redis.call(unpack(op))
      end
    end
    -- Redis never rolls a script back: ops were checked above, and one that still fails
    -- (a key of the wrong type) is a projection bug. Writing the offset per entry keeps
    -- the entries before it consistent; the view must then be rebuilt from the log.
    redis.call('HSET', okey, part, e[3])
    cur = off
    applied = applied + 1
  end
  last[slot] = cur
end
-- One wake-up per feed touched by the batch: what an SSE or webhook reader waits on.
for base in pairs(woken) do redis.call('PUBLISH', base, '') end
return applied
"""
)
_GLOB = re.compile(r"([*?\[\]\\])")
CHUNK = 500


def _wire(entries: Sequence[Entry]) -> bytes:
    # Op values are strings already (consumers.stores.ops), so the tuples pack as they are.
    return msgpack.packb(
        [[e.offsets_key, str(e.partition), str(e.position), e.ops] for e in entries],
        use_bin_type=True,
    )


class RedisStore:
    def __init__(self, client: redis.Redis) -> None:
        if not client.get_connection_kwargs().get("decode_responses"):
            raise ValueError("RedisStore needs a client created with decode_responses=True")
        self.client = client
        self._apply = client.register_script(APPLY_LUA)

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        return cls(redis.Redis.from_url(url, decode_responses=True))

    def apply(self, entries: Sequence[Entry]) -> int:
        if not entries:
            return 0
        return int(self._apply(args=[_wire(entries)]))

    def offsets(self, offsets_key: str) -> dict[int, int]:
        return {int(p): int(o) for p, o in self.client.hgetall(offsets_key).items()}

    # --- reads (the Reader protocol) ------------------------------------------------

    def hgetall(self, key: str) -> dict[str, str]:
        return self.client.hgetall(key)

    def hgetall_many(self, keys: Sequence[str]) -> list[dict[str, str]]:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        return pipe.execute()

    def hmget(self, key: str, fields: Sequence[str]) -> list[str | None]:
        return self.client.hmget(key, list(fields))

    def smembers(self, key: str) -> set[str]:
        return self.client.smembers(key)

    def smembers_many(self, keys: Sequence[str]) -> list[set[str]]:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.smembers(key)
        return pipe.execute()

    def smismember(self, key: str, members: Sequence[str]) -> list[bool]:
        if not members:
            return []
        return [bool(x) for x in self.client.smismember(key, list(members))]

    def zrange_many(self, windows: Sequence[Window]) -> list[list[Scored]]:
        pipe = self.client.pipeline(transaction=False)
        for key, start, stop in windows:
            pipe.zrange(key, start, stop, withscores=True)
        return pipe.execute()

    def zrangebyscore(self, key: str, max_score: float, limit: int) -> list[Scored]:
        return self.client.zrangebyscore(key, "-inf", max_score, 0, limit, withscores=True)

    def zrange_from(self, key: str, min_score: int, offset: int, count: int) -> list[Scored]:
        return self.client.zrangebyscore(key, min_score, "+inf", offset, count, withscores=True)

    def zrange_from_many(self, windows: Sequence[Window]) -> list[list[Scored]]:
        pipe = self.client.pipeline(transaction=True)  # one instant: merged_page needs it
        for key, min_score, count in windows:
            pipe.zrangebyscore(key, min_score, "+inf", 0, count, withscores=True)
        return pipe.execute()

    def zcard_many(self, keys: Sequence[str]) -> list[int]:
        pipe = self.client.pipeline(transaction=True)  # one instant for every count
        for key in keys:
            pipe.zcard(key)
        return [int(n) for n in pipe.execute()]

    def scan(self, prefix: str) -> list[str]:
        pattern = _GLOB.sub(r"\\\1", prefix) + "*"
        return sorted(set(self.client.scan_iter(match=pattern, count=1000)))

    # --- audit ----------------------------------------------------------------------

    def dump(self, prefix: str) -> Iterator[Dumped]:
        keys = [k for k in self.scan(prefix) if not is_offsets_key(k)]
        for i in range(0, len(keys), CHUNK):
            chunk = keys[i : i + CHUNK]
            pipe = self.client.pipeline(transaction=False)
            for key in chunk:
                pipe.type(key)
            # A key may vanish between SCAN and TYPE on a live store; it then has no content.
            kinds = pipe.execute()
            for key, kind in zip(chunk, kinds, strict=True):
                if kind == "none":
                    pipe.exists(key)
                elif kind == "hash":
                    pipe.hgetall(key)
                elif kind == "set":
                    pipe.smembers(key)
                elif kind == "zset":
                    pipe.zrange(key, 0, -1, withscores=True)
                else:
                    raise TypeError(f"{key}: views hold no {kind} keys")
            for key, kind, value in zip(chunk, kinds, pipe.execute(), strict=True):
                if kind == "none":
                    continue
                if kind == "hash":
                    yield key, "h", sorted(value.items())
                elif kind == "set":
                    yield key, "s", [(m, "") for m in sorted(value)]
                else:
                    yield key, "z", sorted((m, format_score(s)) for m, s in value)

    def digest(self, prefix: str) -> str:
        return digest_of(self.dump(prefix))
