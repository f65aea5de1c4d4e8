"""Deadlines view: what the timer must fire, and when.

Keys (all under `pw:deadlines:`), sorted sets scored by the instant in epoch ms:
- `leases`        `{task_id}|{claim_id}`      -> lease_expires_at (ExpireClaim);
- `auto_approve`  `{task_id}|{submission_id}` -> auto_approve_at   (AutoApprove);
- `task_expiry`   `{task_id}`                 -> expires_at        (ExpireTask).
An entry leaves when its claim ends, its submission is reviewed or its task closes.
Members carry the task id because every timer command is routed by it.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from consumers.stores.ops import Op, zadd, zrem
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


_handlers = Handlers()
project = _handlers.projection()


@_handlers.on(TaskPosted)
def _posted(e: TaskPosted, at: int) -> list[Op]:
    return [zadd(TASK_EXPIRY, e.expires_at, e.task_id)]


@_handlers.on(TaskCancelled, TaskExpired)
def _closed(e: TaskCancelled | TaskExpired, at: int) -> list[Op]:
    return [zrem(TASK_EXPIRY, e.task_id)]


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
        for name, score in reader.zrangebyscore(key, now_ms, limit):
            task_id, _, ref = name.partition("|")
            found.append(Deadline(int(score), command, task_id, ref))
    return heapq.nsmallest(limit, found)
