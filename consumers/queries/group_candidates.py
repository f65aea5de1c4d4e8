"""Claim-from-a-group's read: a task group's best open tasks this worker never claimed.

The task groups view (consumers/views/task_groups.py) keeps, per group, a sorted set of
its open tasks with free assignments, scored like the queue (lower = offered first), and a
meta hash with the group's terms (`qualifications` space-joined). One script reads the
meta hash, the best tasks the worker has not claimed (its `pw:queue:claimed:` set, as
claim-next skips them) and the Idempotency-Key memory of the request: one round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from consumers.queries.queue_query import MAX_ROUNDS, PAGE_SLACK
from consumers.views.queue import claimed_key
from consumers.views.task_groups import meta_key, tasks_key

# KEYS: the group's meta hash, its tasks zset, the worker's claimed set, memory list or ""
# ARGV: limit, page slack, max rounds
GROUP_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, '', {}, {}} end
local quals = redis.call('HGET', KEYS[1], 'qualifications') or ''
local tried = {}
local extra = 0
if KEYS[4] ~= '' then
  tried = redis.call('LRANGE', KEYS[4], 0, -1)
  for _, entry in ipairs(tried) do
    local _, spaces = string.gsub(entry, ' ', '')
    extra = extra + spaces + 1
  end
end
local limit = tonumber(ARGV[1]) + extra
local slack, rounds = tonumber(ARGV[2]), tonumber(ARGV[3])
local out, start, page = {}, 0, limit + slack
for _ = 1, rounds do
  local items = redis.call('ZRANGE', KEYS[2], start, start + page - 1)
  for _, member in ipairs(items) do
    if #out < limit and redis.call('SISMEMBER', KEYS[3], member) == 0 then
      out[#out + 1] = member
    end
  end
  if #out >= limit or #items < page then break end
  start = start + page
  page = page * 4
end
return {1, quals, tried, out}
"""


@dataclass(frozen=True, slots=True)
class GroupRead:
    qualifications: tuple[str, ...]  # what a worker must hold to claim from the group
    memory: list[str]  # the Idempotency-Key memory's entries, oldest first
    candidates: list[str]  # best first, never claimed by the worker


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value


class GroupScript:
    """The read of one group for one worker, in one round trip (redis.asyncio.Redis)."""

    def __init__(self, redis: Any) -> None:
        self._script = redis.register_script(GROUP_LUA)

    async def read(self, group_id: str, worker_id: str, limit: int,
                   memory: str | None = None) -> GroupRead | None:  # fmt: skip
        """None when the group does not exist; else up to `limit` candidates, plus as many
        as the memory's entries name (the caller skips those it tried)."""
        keys = [meta_key(group_id), tasks_key(group_id), claimed_key(worker_id), memory or ""]
        exists, quals, tried, found = await self._script(keys=keys,
                                                         args=[limit, PAGE_SLACK, MAX_ROUNDS])
        if not exists:
            return None
        return GroupRead(tuple(_text(quals).split()), [_text(e) for e in tried],
                         [_text(m) for m in found])  # fmt: skip
