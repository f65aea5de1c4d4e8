"""Listing view: a requester's batches, each batch's tasks by status, its submissions.

The API posts a requester's batch `b` as domain batches (chunks) `b.0`, `b.1`, ...; this
view groups them back under `b` (`group_of`). Keys (all under `pw:batches:`), with `R` the
requester and `B` the batch as the requester named it:
- `of:{R}`                    sorted set of R's batches, score = -(first chunk's posting
  instant, ms): ascending order is newest first;
- `batch:{R}:{B}`             hash: posted_at, chunks, tasks, claims, submissions,
  approved, rejected, overturned, bonuses, escrow (reserved minus released minus paid
  from it), spend (rewards, bonuses and fees paid);
- `tasks:{R}:{B}:{status}`    the batch's task ids, score = `task_score`, one set per
  status (open, claimed, submitted, approved, rejected, expired, cancelled): a task
  moves from set to set and is in exactly one; a listing of all of them merges the seven
  (consumers.queries.listings.merged_page): a set of every task cost ~100 B a task;
- `subs:{R}:{B}:{status}`     the batch's submission ids per status (submitted,
  approved, rejected, overturned), score = `submission_score`;
- `review:{R}`                R's submissions awaiting review, score = submitted_at (ms).

Every score is immutable for its member (the task's chunk and index, the claim's number,
the submission's instant), so a cursor (score, member) pages without repeats or gaps
while statuses change. A task's status is that of its latest event (posted: open,
claimed, released or expired claim: open, submitted, approved or overturned: approved,
rejected, cancelled, expired): exact for one assignment; with several, the latest fact
wins. Moving a member is a ZADD to its new set and a ZREM from every other one (ZREM of
an absent member is a no-op), so no op reads. Every key is written by events of one
requester, whose tasks share one partition (schemas.ids), and the batch's counters by
HINCRBY only.
"""

from __future__ import annotations

import re
from typing import Any

from consumers.stores.ops import Op, hincrby, hset_many, zadd, zrem
from consumers.views.projection import Handlers
from schemas.events import (
    BatchPosted,
    BonusGranted,
    ClaimExpired,
    ClaimReleased,
    RejectionOverturned,
    SubmissionApproved,
    SubmissionRejected,
    TaskCancelled,
    TaskClaimed,
    TaskExpired,
    TaskPosted,
    WorkSubmitted,
)

VIEW = "batches"
PREFIX = "pw:batches:"

TASK_STATUSES = ("open", "claimed", "submitted", "approved", "rejected", "expired", "cancelled")
SUBMISSION_STATUSES = ("submitted", "approved", "rejected", "overturned")

_CHUNK = re.compile(r"(.+)\.(\d{1,9})")
# Task score = chunk * 2**24 + index (an index has at most 7 digits, below 2**24); a
# submission's = task score * 2**13 + claim number (capped). Equal scores, should a
# pathological id produce them, are still paged correctly: ties go by member.
_INDEX_BITS = 24
_CLAIM_BITS = 13
_MAX_CHUNK = 2**16 - 1


def group_of(batch_id: str) -> tuple[str, int]:
    """The requester's batch and the chunk number of a domain batch id: `b.3` -> (b, 3)."""
    found = _CHUNK.fullmatch(batch_id)
    if found is None:
        return batch_id, 0
    return found.group(1), int(found.group(2))


def _split_task(task_id: str) -> tuple[str, str, int, int]:
    requester, batch, index = task_id.split(":")
    group, chunk = group_of(batch)
    return requester, group, chunk, int(index)


def task_score(task_id: str) -> int:
    _, _, chunk, index = _split_task(task_id)
    return min(chunk, _MAX_CHUNK) * 2**_INDEX_BITS + min(index, 2**_INDEX_BITS - 1)


def submission_score(submission_id: str) -> int:
    task, _, claim = submission_id.rpartition(":")
    number = int(claim[1:]) if claim[1:].isdigit() else 0
    return task_score(task) * 2**_CLAIM_BITS + min(number, 2**_CLAIM_BITS - 1)


def batches_key(requester: str) -> str:
    return f"pw:batches:of:{requester}"


def batch_key(requester: str, batch: str) -> str:
    return f"pw:batches:batch:{requester}:{batch}"


def tasks_key(requester: str, batch: str, status: str) -> str:
    return f"pw:batches:tasks:{requester}:{batch}:{status}"


def subs_key(requester: str, batch: str, status: str) -> str:
    return f"pw:batches:subs:{requester}:{batch}:{status}"


def review_key(requester: str) -> str:
    return f"pw:batches:review:{requester}"


_handlers = Handlers()
project = _handlers.projection()


def _task_status(task_id: str, status: str) -> list[Op]:
    requester, batch, _, _ = _split_task(task_id)
    score = task_score(task_id)
    ops = [zrem(tasks_key(requester, batch, other), task_id)
           for other in TASK_STATUSES if other != status]
    ops.append(zadd(tasks_key(requester, batch, status), score, task_id))
    return ops


def _submission_status(task_id: str, submission_id: str, status: str) -> list[Op]:
    requester, batch, _, _ = _split_task(task_id)
    ops = [zrem(subs_key(requester, batch, other), submission_id)
           for other in SUBMISSION_STATUSES if other != status]
    ops.append(zadd(subs_key(requester, batch, status), submission_score(submission_id),
                    submission_id))
    if status != "submitted":
        ops.append(zrem(review_key(requester), submission_id))
    return ops


def _counters(task_id: str, **fields: int) -> list[Op]:
    requester, batch, _, _ = _split_task(task_id)
    key = batch_key(requester, batch)
    return [hincrby(key, name, n) for name, n in fields.items() if n]


@_handlers.on(BatchPosted)
def _batch(e: BatchPosted, at: int) -> list[Op]:
    group, chunk = group_of(e.batch_id)
    key = batch_key(e.requester_id, group)
    ops = [hincrby(key, "chunks", 1), hincrby(key, "escrow", e.escrow)]
    if chunk == 0:  # the first chunk dates the batch; later chunks never move it
        ops.append(zadd(batches_key(e.requester_id), -at, group))
        ops += hset_many(key, {"posted_at": at, "currency": e.currency})
    return ops


@_handlers.on(TaskPosted)
def _posted(e: TaskPosted, at: int) -> list[Op]:
    requester, batch, _, _ = _split_task(e.task_id)
    return [hincrby(batch_key(requester, batch), "tasks", 1), *_task_status(e.task_id, "open")]


@_handlers.on(TaskClaimed)
def _claimed(e: TaskClaimed, at: int) -> list[Op]:
    return [*_counters(e.task_id, claims=1), *_task_status(e.task_id, "claimed")]


@_handlers.on(ClaimReleased, ClaimExpired)
def _claim_ended(e: Any, at: int) -> list[Op]:
    return [*_counters(e.task_id, escrow=-e.released_escrow), *_task_status(e.task_id, "open")]


@_handlers.on(WorkSubmitted)
def _submitted(e: WorkSubmitted, at: int) -> list[Op]:
    requester, _, _, _ = _split_task(e.task_id)
    return [*_counters(e.task_id, submissions=1), *_task_status(e.task_id, "submitted"),
            *_submission_status(e.task_id, e.submission_id, "submitted"),
            zadd(review_key(requester), at, e.submission_id)]


@_handlers.on(SubmissionApproved)
def _approved(e: SubmissionApproved, at: int) -> list[Op]:
    paid = e.reward + e.fee
    return [*_counters(e.task_id, approved=1, escrow=-paid, spend=paid),
            *_task_status(e.task_id, "approved"),
            *_submission_status(e.task_id, e.submission_id, "approved")]


@_handlers.on(SubmissionRejected)
def _rejected(e: SubmissionRejected, at: int) -> list[Op]:
    return [*_counters(e.task_id, rejected=1, escrow=-e.released_escrow),
            *_task_status(e.task_id, "rejected"),
            *_submission_status(e.task_id, e.submission_id, "rejected")]


@_handlers.on(RejectionOverturned)
def _overturned(e: RejectionOverturned, at: int) -> list[Op]:
    # Paid from the requester's available funds, not the batch's escrow (ledger view).
    return [*_counters(e.task_id, overturned=1, spend=e.reward + e.fee),
            *_task_status(e.task_id, "approved"),
            *_submission_status(e.task_id, e.submission_id, "overturned")]


@_handlers.on(BonusGranted)
def _bonus(e: BonusGranted, at: int) -> list[Op]:
    return _counters(e.task_id, bonuses=1, spend=e.amount + e.fee)


@_handlers.on(TaskCancelled)
def _cancelled(e: TaskCancelled, at: int) -> list[Op]:
    return [*_counters(e.task_id, escrow=-e.released_escrow),
            *_task_status(e.task_id, "cancelled")]


@_handlers.on(TaskExpired)
def _expired(e: TaskExpired, at: int) -> list[Op]:
    return [*_counters(e.task_id, escrow=-e.released_escrow),
            *_task_status(e.task_id, "expired")]
