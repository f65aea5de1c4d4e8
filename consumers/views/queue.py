"""Assignment queue view: open tasks with free assignments, best first, per qualification set.

Keys (all under `pw:queue:`):
- `sigs`               set of known qualification signatures ('' = no requirement);
- `open:{signature}`   sorted set task_id -> score; lower score = offered first;
- `t:{requester}:{batch}:{n}`  hash of 32 tasks (consumers/views/task_slots.py): per
                       task `{index}.free` (free assignments), and its sorted set and score,
                       `~zset` and `~score` once when the bucket's tasks share them (else
                       `{index}.zset`, `{index}.score`): what ZSYNC reads, and nothing else
                       (the claim endpoint reads only the sorted sets and `claimed:`; the
                       task's terms are in the tasks view);
- `claimed:{worker}`   set of task ids the worker ever claimed (never offered again).

A release or expiry names only the task, so the task's sorted set and score live in its
hash and ZSYNC re-derives membership from `free` inside the same atomic apply. Closing a
task subtracts CLOSED from `free`: claims that end after the close can then never make it
positive again, without the projection reading anything. The closed task keeps its `free`
field for that reason.
"""

from __future__ import annotations

from consumers.stores.ops import Op, hdel, hincrby, hsetshared, sadd, zsync
from consumers.views import task_slots
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
BUCKET = "pw:queue:t:"


def signature(qualifications: tuple[str, ...] | list[str] | set[str]) -> str:
    return ",".join(sorted(set(qualifications)))


def open_key(sig: str) -> str:
    return f"pw:queue:open:{sig}"


def task_slot(task_id: str) -> tuple[str, str]:
    """(hash, field prefix) of the task's `free`, `zset` and `score` (task_slots)."""
    return task_slots.slot(BUCKET, task_id)


def claimed_key(worker_id: str) -> str:
    return f"pw:queue:claimed:{worker_id}"


def score(priority: int, posted_at: int) -> int:
    bounded = max(-MAX_PRIORITY, min(MAX_PRIORITY, priority))
    return ((MAX_PRIORITY - bounded) << _AGE_BITS) + posted_at


_handlers = Handlers()
project = _handlers.projection()


@_handlers.on(TaskPosted)
def _posted(e: TaskPosted, at: int) -> list[Op]:
    (key, p), sig = task_slot(e.task_id), signature(e.qualifications)
    return [
        sadd(SIGS, sig),
        hsetshared(key, "~zset", p + "zset", open_key(sig)),
        hsetshared(key, "~score", p + "score", score(e.priority, at)),
        hincrby(key, p + "free", e.assignments),
        zsync(key, e.task_id, p),
    ]


@_handlers.on(TaskClaimed)
def _claimed(e: TaskClaimed, at: int) -> list[Op]:
    key, p = task_slot(e.task_id)
    return [
        hincrby(key, p + "free", -1),
        sadd(claimed_key(e.worker_id), e.task_id),
        zsync(key, e.task_id, p),
    ]


@_handlers.on(ClaimReleased, ClaimExpired)
def _returned(e: ClaimReleased | ClaimExpired, at: int) -> list[Op]:
    key, p = task_slot(e.task_id)
    return [hincrby(key, p + "free", 1), zsync(key, e.task_id, p)]


@_handlers.on(TaskCancelled, TaskExpired)
def _closed(e: TaskCancelled | TaskExpired, at: int) -> list[Op]:
    # Its own zset and score, if it had any, go; ZSYNC then falls back to the shared
    # ones, where a task with free <= 0 is only ever removed (a no-op once it is out).
    key, p = task_slot(e.task_id)
    return [hincrby(key, p + "free", -CLOSED), zsync(key, e.task_id, p),
            hdel(key, p + "zset", p + "score")]
