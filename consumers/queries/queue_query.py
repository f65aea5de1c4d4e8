"""Read side of the assignment queue: the best open tasks a worker may claim.

The queue is an index, not a promise: the task aggregate still decides each claim, so a
candidate may be refused (taken meanwhile); the client simply tries the next one.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any

from consumers.stores.store import Reader, Scored
from consumers.views.queue import SIGS, claimed_key, open_key

MAX_ROUNDS = 12
PAGE_SLACK = 5  # a few already-claimed tasks at the head cost no second round


def satisfied(signatures: Iterable[str], qualifications: Iterable[str]) -> list[str]:
    held = set(qualifications)
    return sorted(s for s in signatures if not s or set(s.split(",")) <= held)


def candidates(
    reader: Reader, worker_id: str, worker_qualifications: Iterable[str], limit: int = 10
) -> list[str]:
    """Up to `limit` task ids, priority then age, that the worker qualifies for and never claimed.

    Reads a page of each eligible sorted set and merges them. The merged order is exact
    only up to the bound: the worst item read from the set that filled its page with the
    best last item (that set may hold better ones than other sets' tails). While claimed
    tasks leave fewer than `limit` under the bound, only the bounding set is read further,
    with pages growing fourfold. After MAX_ROUNDS the best found so far is returned.
    """
    if limit <= 0:
        return []
    keys = [open_key(s) for s in satisfied(reader.smembers(SIGS), worker_qualifications)]
    fetched: dict[str, list[Scored]] = {k: [] for k in keys}
    page = dict.fromkeys(keys, limit + PAGE_SLACK)
    more, reading = set(keys), keys  # sets that may hold more; sets to read this round
    claimed: dict[str, bool] = {}
    fresh: list[str] = []
    for _ in range(MAX_ROUNDS):
        windows = [(k, len(fetched[k]), len(fetched[k]) + page[k] - 1) for k in reading]
        for (key, _, _), items in zip(windows, reader.zrange_many(windows), strict=True):
            fetched[key].extend(items)
            if len(items) < page[key]:
                more.discard(key)
            page[key] *= 4
        bounding = min(more, key=lambda k: _rank(fetched[k][-1]), default=None)
        bound = _rank(fetched[bounding][-1]) if bounding else None
        merged = [m for m, s in heapq.merge(*fetched.values(), key=_rank)
                  if bound is None or (s, m) <= bound]  # fmt: skip
        unknown = [m for m in merged if m not in claimed]
        found = reader.smismember(claimed_key(worker_id), unknown)
        claimed.update(zip(unknown, found, strict=True))
        fresh = [m for m in merged if not claimed[m]]
        if len(fresh) >= limit or bounding is None:
            break
        reading = [bounding]
    return fresh[:limit]


def _rank(item: Scored) -> tuple[float, str]:
    # Redis orders equal scores by member, so (score, member) is the total order.
    member, score = item
    return score, member


# --- one round trip, for the API --------------------------------------------------------

# The same query inside Redis, plus the claim-next memory of an Idempotency-Key, so a
# claim-next reads everything it needs in one EVALSHA instead of five round trips (and no
# thread-pool hop). Each eligible set contributes its best `limit` tasks the worker never
# claimed (pages growing fourfold, at most MAX_ROUNDS reads per set); the caller merges
# them, which makes the result exact. Members come back as one "member score ..." string
# per set: one bulk reply parses far faster in redis-py than 2 x limit scored items.
# Lua compares strings with strcoll (locale-dependent), so the merge is left to Python.
# KEYS: sigs set, the worker's claimed set, the memory list (or "" for none)
# ARGV: open-key prefix, limit, page slack, max rounds, qualifications...
CANDIDATES_LUA = """
local held = {}
for i = 5, #ARGV do held[ARGV[i]] = true end
local tried = {}
local extra = 0
if KEYS[3] ~= '' then
  tried = redis.call('LRANGE', KEYS[3], 0, -1)
  for _, entry in ipairs(tried) do
    local _, spaces = string.gsub(entry, ' ', '')
    extra = extra + spaces + 1
  end
end
local limit = tonumber(ARGV[2]) + extra
local slack, rounds = tonumber(ARGV[3]), tonumber(ARGV[4])
local found = {}
if limit > 0 then
  for _, sig in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    local ok = true
    if sig ~= '' then
      for q in string.gmatch(sig, '[^,]+') do
        if not held[q] then ok = false; break end
      end
    end
    if ok then
      local key, out, n, start, page = ARGV[1] .. sig, {}, 0, 0, limit + slack
      for _ = 1, rounds do
        local items = redis.call('ZRANGE', key, start, start + page - 1, 'WITHSCORES')
        for j = 1, #items, 2 do
          if n < limit and redis.call('SISMEMBER', KEYS[2], items[j]) == 0 then
            n = n + 1
            out[#out + 1] = items[j]
            out[#out + 1] = items[j + 1]
          end
        end
        if n >= limit or #items < 2 * page then break end
        start = start + page
        page = page * 4
      end
      if n > 0 then found[#found + 1] = table.concat(out, ' ') end
    end
  end
end
return {tried, found}
"""


def merge_found(found: Iterable[bytes | str], limit: int) -> list[str]:
    """The best `limit` members of the script's per-set "member score ..." strings."""
    parts = [(f.decode() if isinstance(f, bytes) else f).split(" ") for f in found]
    if len(parts) == 1:  # one eligible set: Redis' order is already the answer
        return parts[0][0::2][:limit]
    ranked = [[(float(s), m) for m, s in zip(p[0::2], p[1::2], strict=True)] for p in parts]
    return [m for _, m in heapq.merge(*ranked)][:limit]


class QueueScript:
    """claim-next's read: the Idempotency-Key memory and the candidates, one round trip."""

    def __init__(self, redis: Any) -> None:  # redis.asyncio.Redis (any decode setting)
        self._script = redis.register_script(CANDIDATES_LUA)

    async def read(
        self, worker_id: str, qualifications: Iterable[str], limit: int, memory: str | None
    ) -> tuple[list[str], list[str]]:
        """(memory entries, candidates): up to `limit` + the tasks in memory candidates,
        as `candidates` would find them (the caller skips the tried ones)."""
        quals = sorted(set(qualifications))
        keys = [SIGS, claimed_key(worker_id), memory or ""]
        tried, found = await self._script(
            keys=keys, args=[open_key(""), limit, PAGE_SLACK, MAX_ROUNDS, *quals]
        )
        entries = [e.decode() if isinstance(e, bytes) else e for e in tried]
        want = limit + sum(e.count(" ") + 1 for e in entries)
        return entries, merge_found(found, want)
