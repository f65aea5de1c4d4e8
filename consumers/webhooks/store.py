"""Webhook subscriptions in Redis (`pw:webhooks:`), shared by the API and the sender.

Keys, with `W` a webhook id and `A` its owner:
- `hook:{W}`        hash: configuration, secret, feed cursor and delivery progress, `rev`
                    (bumped by every write) and `seq` (the last delivery record's number);
- `deliveries:{W}`  sorted set of the last KEEP_DELIVERIES attempts, score `seq`, member
                    `{seq} {json}`: newest first by ZREVRANGEBYSCORE, paged by seq;
- `of:{A}`          sorted set of A's webhook ids by creation instant;
- `all`             set of every webhook id: what the sender runs;
- `idem:{A}:{sha}`  an Idempotency-Key's webhook, so a retried create makes no second one.

Every write is one script. `save` is the sender's: it moves the cursor, writes the
progress and appends the delivery records only if `rev` is still what the sender read, so
an advance and its records are one atomic step, and an owner's enable or delete in the
meantime is never overwritten.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from consumers.webhooks.schedule import Progress
from consumers.webhooks.subscription import Delivery, Webhook, from_hash, progress_fields, to_hash

NAMESPACE = "pw:webhooks:"
KEEP_DELIVERIES = 1_000
IDEMPOTENCY_TTL_S = 24 * 3600

CREATE_LUA = """
local remember = ARGV[5] ~= '0'
if remember then
  local seen = redis.call('GET', KEYS[4])
  if seen then
    local sep = string.find(seen, '|', 1, true)
    if string.sub(seen, 1, sep - 1) ~= ARGV[4] then return {'reused', ''} end
    return {'replayed', string.sub(seen, sep + 1)}
  end
end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then return {'full', ''} end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[3])
if remember then redis.call('SET', KEYS[4], ARGV[4] .. '|' .. ARGV[3], 'EX', ARGV[5]) end
return {'created', ARGV[3]}
"""
SAVE_LUA = """
if redis.call('HGET', KEYS[1], 'rev') ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], unpack(ARGV, 4 + n))
redis.call('HINCRBY', KEYS[1], 'rev', 1)
for i = 4, 3 + n do
  local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
  redis.call('ZADD', KEYS[2], seq, seq .. ' ' .. ARGV[i])
end
if n > 0 then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[2]) + 1)) end
return 1
"""
DELETE_LUA = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('SREM', KEYS[4], ARGV[2])
return 1
"""


@dataclass(frozen=True, slots=True)
class Created:
    outcome: str  # created, replayed (same Idempotency-Key and body), reused (other body), full
    webhook_id: str


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decoded(h: dict[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in h.items()}


class WebhookStore:
    def __init__(self, redis: Redis, namespace: str = NAMESPACE) -> None:
        self.redis = redis
        self.ns = namespace
        self._create = redis.register_script(CREATE_LUA)
        self._save = redis.register_script(SAVE_LUA)
        self._delete = redis.register_script(DELETE_LUA)

    def _hook(self, webhook_id: str) -> str:
        return f"{self.ns}hook:{webhook_id}"

    def _deliveries(self, webhook_id: str) -> str:
        return f"{self.ns}deliveries:{webhook_id}"

    def _of(self, owner: str) -> str:
        return f"{self.ns}of:{owner}"

    @property
    def _all(self) -> str:
        return f"{self.ns}all"

    def _idem(self, owner: str, key: str) -> str:
        digest = hashlib.sha256(f"{len(owner)}:{owner}:{key}".encode()).hexdigest()[:32]
        return f"{self.ns}idem:{owner}:{digest}"

    async def create(self, hook: Webhook, limit: int, idempotency: tuple[str, str] | None = None
                     ) -> Created:  # fmt: skip
        """Store `hook` unless its owner holds `limit` already; `idempotency` is the
        request's (Idempotency-Key, fingerprint of its body)."""
        key, fingerprint = idempotency or ("", "")
        fields = [part for pair in to_hash(hook).items() for part in pair]
        keys = [self._hook(hook.webhook_id), self._of(hook.owner), self._all,
                self._idem(hook.owner, key)]  # fmt: skip
        args = [limit, hook.created_at, hook.webhook_id, fingerprint,
                IDEMPOTENCY_TTL_S if idempotency else 0, *fields]  # fmt: skip
        outcome, found = await self._create(keys=keys, args=args)
        return Created(_text(outcome), _text(found))

    async def get(self, webhook_id: str) -> Webhook | None:
        h = await self.redis.hgetall(self._hook(webhook_id))
        return from_hash(webhook_id, _decoded(h)) if h else None

    async def of(self, owner: str) -> list[Webhook]:
        """The owner's webhooks, oldest first."""
        ids = [_text(i) for i in await self.redis.zrange(self._of(owner), 0, -1)]
        return [hook for hook in await self.get_many(ids) if hook is not None]

    async def get_many(self, ids: Sequence[str]) -> list[Webhook | None]:
        pipe = self.redis.pipeline(transaction=False)
        for webhook_id in ids:
            pipe.hgetall(self._hook(webhook_id))
        found = await pipe.execute()
        return [from_hash(i, _decoded(h)) if h else None for i, h in zip(ids, found, strict=True)]

    async def all_ids(self) -> list[str]:
        return sorted(_text(i) for i in await self.redis.smembers(self._all))

    async def delete(self, webhook_id: str, owner: str) -> bool:
        keys = [self._hook(webhook_id), self._deliveries(webhook_id), self._of(owner), self._all]
        return bool(await self._delete(keys=keys, args=[owner, webhook_id]))

    async def save(self, hook: Webhook, progress: Progress,
                   deliveries: Sequence[Delivery] = ()) -> bool:  # fmt: skip
        """Write `progress` and append `deliveries` (oldest first) if nobody wrote `hook`
        since it was read; False if somebody did (an enable, a delete): read it again."""
        fields = [part for pair in progress_fields(progress).items() for part in pair]
        args = [hook.rev, KEEP_DELIVERIES, len(deliveries), *(d.to_json() for d in deliveries),
                *fields]  # fmt: skip
        keys = [self._hook(hook.webhook_id), self._deliveries(hook.webhook_id)]
        return bool(await self._save(keys=keys, args=args))

    async def deliveries(self, webhook_id: str, before: int | None, limit: int
                         ) -> tuple[list[dict[str, Any]], int | None]:  # fmt: skip
        """Delivery records newest first, those numbered below `before` if given; and the
        number to ask `before` next, None after the oldest kept."""
        top = f"({before}" if before is not None else "+inf"
        rows = await self.redis.zrevrangebyscore(self._deliveries(webhook_id), top, "-inf",
                                                 start=0, num=limit + 1)  # fmt: skip
        items = []
        for row in rows[:limit]:
            seq, _, text = _text(row).partition(" ")
            items.append(Delivery.from_json(text).public(f"{webhook_id}.{seq}"))
        more = len(rows) > limit
        last = int(_text(rows[limit - 1]).partition(" ")[0]) if more else None
        return items, last
