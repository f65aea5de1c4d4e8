"""Assignment queue view: open tasks with free assignments, best first, per qualification set.

Keys (all under `pw:queue:`):
- `sigs`               set of known qualification signatures ('' = no requirement);
- `open:{signature}`   sorted set task_id -> score; lower score = offered first;
- `task:{task_id}`     hash: free (free assignments), zset, score: what ZSYNC reads, and
                       nothing else (the claim endpoint reads only the sorted sets and
                       `claimed:`; the task's terms are in the tasks view);
- `claimed:{worker}`   set of task ids the worker ever claimed (never offered again).

A release or expiry names only the task, so the task's sorted set and score live in its
hash and ZSYNC re-derives membership from `free` inside the same atomic apply. Closing a
task subtracts CLOSED from `free`: claims that end after the close can then never make it
positive again, without the projection reading anything. The closed task keeps a one-field
hash (`free`) for that reason.
"""

from __future__ import annotations

from consumers.stores.ops import Op, hdel, hincrby, hset_many, sadd, zsync
from consumers.views.projection import Handlers
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
_MEMBERSHIP = ("zset", "score")  # with `free`, all the task hash holds


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


_handlers = Handlers()
project = _handlers.projection()


@_handlers.on(TaskPosted)
def _posted(e: TaskPosted, at: int) -> list[Op]:
    meta, sig = task_key(e.task_id), signature(e.qualifications)
    return [
        sadd(SIGS, sig),
        *hset_many(meta, {"zset": open_key(sig), "score": score(e.priority, at)}),
        hincrby(meta, "free", e.assignments),
        zsync(meta, e.task_id),
    ]


@_handlers.on(TaskClaimed)
def _claimed(e: TaskClaimed, at: int) -> list[Op]:
    meta = task_key(e.task_id)
    return [
        hincrby(meta, "free", -1),
        sadd(claimed_key(e.worker_id), e.task_id),
        zsync(meta, e.task_id),
    ]


@_handlers.on(ClaimReleased, ClaimExpired)
def _returned(e: ClaimReleased | ClaimExpired, at: int) -> list[Op]:
    meta = task_key(e.task_id)
    return [hincrby(meta, "free", 1), zsync(meta, e.task_id)]


@_handlers.on(TaskCancelled, TaskExpired)
def _closed(e: TaskCancelled | TaskExpired, at: int) -> list[Op]:
    meta = task_key(e.task_id)
    return [hincrby(meta, "free", -CLOSED), zsync(meta, e.task_id), hdel(meta, *_MEMBERSHIP)]
