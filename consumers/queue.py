"""Assignment queue view: open tasks with free assignments, best first, per qualification set.

Keys (all under `pw:queue:`):
- `sigs`               set of known qualification signatures ('' = no requirement);
- `open:{signature}`   sorted set task_id -> score; lower score = offered first;
- `task:{task_id}`     hash: free (free assignments), zset, score, requester, reward, fee,
                       currency, kind, lease_seconds (what the claim endpoint needs);
- `claimed:{worker}`   set of task ids the worker ever claimed (never offered again).

A release or expiry names only the task, so the task's sorted set and score live in its
hash and ZSYNC re-derives membership from `free` inside the same atomic apply. Closing a
task subtracts CLOSED from `free`: claims that end after the close can then never make it
positive again, without the projection reading anything. The closed task keeps a one-field
hash (`free`) for that reason.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any

from consumers.ops import Op, hdel, hincrby, hset_many, sadd, zsync
from schemas.envelope import EventEnvelope
from schemas.events import (
    ClaimExpired,
    ClaimReleased,
    TaskCancelled,
    TaskClaimed,
    TaskExpired,
    TaskPosted,
)

VIEW = "queue"
PREFIX = "pw:queue:"
SIGS = "pw:queue:sigs"
CLOSED = 1 << 40
# Score = (MAX_PRIORITY - priority) * 2**42 + posted_at_ms: priority first, then age.
# Below 2**53 until the year 2109, so a double (Redis's score) holds it exactly.
MAX_PRIORITY = 1_000
_AGE_BITS = 42
_META_FIELDS = ("zset", "score", "requester", "reward", "fee", "currency", "kind", "lease_seconds")


def signature(qualifications: tuple[str, ...] | list[str] | set[str]) -> str:
    return ",".join(sorted(set(qualifications)))


def open_key(sig: str) -> str:
    return f"pw:queue:open:{sig}"


def task_key(task_id: str) -> str:
    return f"pw:queue:task:{task_id}"


def claimed_key(worker_id: str) -> str:
    return f"pw:queue:claimed:{worker_id}"


def score(priority: int, posted_at: int) -> int:
    bounded = max(-MAX_PRIORITY, min(MAX_PRIORITY, priority))
    return ((MAX_PRIORITY - bounded) << _AGE_BITS) + posted_at


def project(env: EventEnvelope) -> list[Op]:
    return _on(env.event, env)


@singledispatch
def _on(event: Any, env: EventEnvelope) -> list[Op]:
    return []


@_on.register(TaskPosted)
def _posted(e: TaskPosted, env: EventEnvelope) -> list[Op]:
    meta, sig = task_key(e.task_id), signature(e.qualifications)
    fields = {
        "zset": open_key(sig),
        "score": score(e.priority, env.occurred_at),
        "requester": e.requester_id,
        "reward": e.reward,
        "fee": e.fee,
        "currency": e.currency,
        "kind": e.kind,
        "lease_seconds": e.lease_seconds,
    }
    return [
        sadd(SIGS, sig),
        *hset_many(meta, fields),
        hincrby(meta, "free", e.assignments),
        zsync(meta, e.task_id),
    ]


@_on.register(TaskClaimed)
def _claimed(e: TaskClaimed, env: EventEnvelope) -> list[Op]:
    meta = task_key(e.task_id)
    return [
        hincrby(meta, "free", -1),
        sadd(claimed_key(e.worker_id), e.task_id),
        zsync(meta, e.task_id),
    ]


@_on.register(ClaimReleased)
@_on.register(ClaimExpired)
def _returned(e: ClaimReleased | ClaimExpired, env: EventEnvelope) -> list[Op]:
    meta = task_key(e.task_id)
    return [hincrby(meta, "free", 1), zsync(meta, e.task_id)]


@_on.register(TaskCancelled)
@_on.register(TaskExpired)
def _closed(e: TaskCancelled | TaskExpired, env: EventEnvelope) -> list[Op]:
    meta = task_key(e.task_id)
    ops = [hincrby(meta, "free", -CLOSED), zsync(meta, e.task_id)]
    return ops + [hdel(meta, name) for name in _META_FIELDS]
