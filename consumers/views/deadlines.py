"""Deadlines view: what the timer must fire, and when.

Keys (all under `pw:deadlines:`), sorted sets scored by the instant in epoch ms:
- `leases`        `{task_id}|{claim_id}`      -> lease_expires_at (ExpireClaim);
- `auto_approve`  `{task_id}|{submission_id}` -> auto_approve_at   (AutoApprove);
- `task_expiry`   `{requester}:{batch}|{n}` -> the earliest expires_at of the open tasks
  in `expiring:{requester}:{batch}|{n}`, a hash index -> expires_at of up to 32 tasks
  (n = index >> 5), kept by the ZMIN op (ExpireTask). A few bytes a task in a listpack,
  where a sorted-set entry per task cost ~110 B (bench/redis_memory.py).
An entry leaves when its claim ends, its submission is reviewed or its task closes (a
task's expiry leaves its hash; the hash's entry leaves with its last task). Members carry
the task id (or, for expiries, its batch) because every timer command is routed by it.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from consumers.stores.ops import Op, hdel, hset, zadd, zmin, zrem
from consumers.stores.store import Reader
from consumers.views.projection import Handlers
from schemas.events import (
    ClaimExpired,
    ClaimReleased,
    SubmissionApproved,
    SubmissionRejected,
    TaskCancelled,
    TaskClaimed,
    TaskExpired,
    TaskPosted,
    WorkSubmitted,
)

VIEW = "deadlines"
PREFIX = "pw:deadlines:"
LEASES = "pw:deadlines:leases"
EXPIRING = "pw:deadlines:expiring:"
AUTO_APPROVE = "pw:deadlines:auto_approve"
TASK_EXPIRY = "pw:deadlines:task_expiry"
# Which timer command each set feeds.
KINDS = {LEASES: "ExpireClaim", AUTO_APPROVE: "AutoApprove", TASK_EXPIRY: "ExpireTask"}


@dataclass(frozen=True, slots=True, order=True)
class Deadline:
    at: int
    command: str
    task_id: str
    ref_id: str  # claim or submission id; '' for a task expiry


def member(task_id: str, ref_id: str) -> str:
    return f"{task_id}|{ref_id}"


def expiry_slot(task_id: str) -> tuple[str, str]:
    """(task_expiry member, the task's field in that member's hash)."""
    head, _, index = task_id.rpartition(":")
    if head and index.isdigit():
        return f"{head}|{int(index) >> 5}", index
    return f"{task_id}|_", "_"  # not minted by piecework: a hash of its own


def _task_of(group: str, field: str) -> str:
    head = group.rpartition("|")[0]
    return head if field == "_" else f"{head}:{field}"


_handlers = Handlers()
project = _handlers.projection()


@_handlers.on(TaskPosted)
def _posted(e: TaskPosted, at: int) -> list[Op]:
    group, field = expiry_slot(e.task_id)
    key = EXPIRING + group
    return [hset(key, field, e.expires_at), zmin(key, TASK_EXPIRY, group)]


@_handlers.on(TaskCancelled, TaskExpired)
def _closed(e: TaskCancelled | TaskExpired, at: int) -> list[Op]:
    group, field = expiry_slot(e.task_id)
    key = EXPIRING + group
    return [hdel(key, field), zmin(key, TASK_EXPIRY, group)]


@_handlers.on(TaskClaimed)
def _claimed(e: TaskClaimed, at: int) -> list[Op]:
    return [zadd(LEASES, e.lease_expires_at, member(e.task_id, e.claim_id))]


@_handlers.on(ClaimReleased, ClaimExpired)
def _claim_ended(e: ClaimReleased | ClaimExpired, at: int) -> list[Op]:
    return [zrem(LEASES, member(e.task_id, e.claim_id))]


@_handlers.on(WorkSubmitted)
def _submitted(e: WorkSubmitted, at: int) -> list[Op]:
    return [
        zrem(LEASES, member(e.task_id, e.claim_id)),
        zadd(AUTO_APPROVE, e.auto_approve_at, member(e.task_id, e.submission_id)),
    ]


@_handlers.on(SubmissionApproved, SubmissionRejected)
def _reviewed(e: SubmissionApproved | SubmissionRejected, at: int) -> list[Op]:
    return [zrem(AUTO_APPROVE, member(e.task_id, e.submission_id))]


def due(reader: Reader, now_ms: int, limit: int = 100) -> list[Deadline]:
    """The `limit` earliest deadlines at or before `now_ms`, across the three kinds.

    The view only drops a deadline once its resulting event is folded, so the timer may
    see one again before that: the aggregate refuses the duplicate command (idempotent).
    """
    found = []
    for key, command in KINDS.items():
        due_now = reader.zrangebyscore(key, now_ms, limit)
        if key == TASK_EXPIRY:  # each entry names up to 32 tasks, at least one of them due
            groups = [name for name, _ in due_now]
            for group, tasks in zip(groups, reader.hgetall_many([EXPIRING + g for g in groups]),
                                    strict=True):  # fmt: skip
                found += [Deadline(int(at), command, _task_of(group, field), "")
                          for field, at in tasks.items() if int(at) <= now_ms]
            continue
        for name, score in due_now:
            task_id, _, ref = name.partition("|")
            found.append(Deadline(int(score), command, task_id, ref))
    return heapq.nsmallest(limit, found)
