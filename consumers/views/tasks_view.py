"""Lookup view for the API: a task, a claim, a submission, by id.

Keys (all under `pw:tasks:`):
- `t:{requester}:{batch}:{n}`            32 tasks a hash (consumers/views/task_record.py):
  per task its posted terms in one field, and what moves: status (open until cancelled
  or expired), closed_at and the counters claimed, released, expired_claims, submitted,
  approved, rejected, disputed, overturned, bonuses, bonus_amount. Live + submitted
  claims = claimed - released - expired_claims (invariant 1: never above `assignments`).
  Read it with `task_record.read_tasks`;
- `claim:{task_id}:{claim_id}`           status (active, released, expired, submitted);
- `submission:{task_id}:{submission_id}` status (submitted, approved, rejected,
  overturned), worker, instants, reason, answer;
- `submissions:{task_id}`                set of the task's submission ids, for review.

Claim and submission ids are scoped by their task: the schema does not promise they are
unique across tasks. Statuses are plain HSETs: a task's events are totally ordered on its
partition, so the last write is the latest fact. Payloads and answers are kept as JSON.
"""

from __future__ import annotations

import json

from consumers.stores.ops import Op, hincrby, hset_many, hsetnx, sadd
from consumers.views import task_record
from consumers.views.projection import Handlers
from schemas.events import (
    BonusGranted,
    ClaimExpired,
    ClaimReleased,
    RejectionDisputed,
    RejectionOverturned,
    SubmissionApproved,
    SubmissionRejected,
    TaskCancelled,
    TaskClaimed,
    TaskExpired,
    TaskPosted,
    WorkSubmitted,
)

VIEW = "tasks"
PREFIX = "pw:tasks:"


def claim_key(task_id: str, claim_id: str) -> str:
    return f"pw:tasks:claim:{task_id}:{claim_id}"


def submission_key(task_id: str, submission_id: str) -> str:
    return f"pw:tasks:submission:{task_id}:{submission_id}"


def submissions_key(task_id: str) -> str:
    return f"pw:tasks:submissions:{task_id}"


# Deterministic text for the digest; bytes from msgpack payloads become their repr. One
# encoder built once: json.dumps with options builds a new one per call.
_json = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=repr
).encode


_handlers = Handlers()
project = _handlers.projection()


@_handlers.on(TaskPosted)
def _posted(e: TaskPosted, at: int) -> list[Op]:
    terms = {
        "requester": e.requester_id, "batch": e.batch_id, "kind": e.kind, "title": e.title,
        "reward": e.reward, "fee": e.fee, "currency": e.currency,
        "assignments": e.assignments, "lease_seconds": e.lease_seconds,
        "expires_at": e.expires_at, "auto_approve_seconds": e.auto_approve_seconds,
        "estimated_seconds": e.estimated_seconds, "priority": e.priority,
        "qualifications": ",".join(e.qualifications), "payload_ref": e.payload_ref,
        "below_wage_floor": int(e.below_wage_floor), "posted_at": at,
    }  # fmt: skip
    key = task_record.slot(e.task_id)[0]
    fields, first = task_record.pack(e.task_id, terms, _json(e.payload))
    return [*hset_many(key, fields), hsetnx(key, task_record.FIRST, first)]


def _count(task_id: str, name: str, n: int = 1) -> Op:
    return hincrby(*task_record.live_field(task_id, name), n)


def _close(task_id: str, status: str, at: int) -> list[Op]:
    key, field = task_record.slot(task_id)
    return hset_many(key, {f"{field}.status": status, f"{field}.closed_at": at})


@_handlers.on(TaskClaimed)
def _claimed(e: TaskClaimed, at: int) -> list[Op]:
    return [_count(e.task_id, "claimed"), *hset_many(
        claim_key(e.task_id, e.claim_id),
        {"status": "active", "task": e.task_id, "worker": e.worker_id, "claimed_at": at,
         "lease_expires_at": e.lease_expires_at},
    )]  # fmt: skip


def _claim_ended(e: ClaimReleased | ClaimExpired, at: int, status: str, counter: str) -> list[Op]:
    return [_count(e.task_id, counter),
            *hset_many(claim_key(e.task_id, e.claim_id), {"status": status, "ended_at": at})]


@_handlers.on(ClaimReleased)
def _released(e: ClaimReleased, at: int) -> list[Op]:
    return _claim_ended(e, at, "released", "released")


@_handlers.on(ClaimExpired)
def _expired(e: ClaimExpired, at: int) -> list[Op]:
    return _claim_ended(e, at, "expired", "expired_claims")


@_handlers.on(WorkSubmitted)
def _submitted(e: WorkSubmitted, at: int) -> list[Op]:
    return [
        _count(e.task_id, "submitted"),
        *hset_many(claim_key(e.task_id, e.claim_id),
                   {"status": "submitted", "ended_at": at, "submission": e.submission_id}),
        sadd(submissions_key(e.task_id), e.submission_id),
        *hset_many(submission_key(e.task_id, e.submission_id), {
            "status": "submitted", "task": e.task_id, "claim": e.claim_id,
            "worker": e.worker_id, "claimed_at": e.claimed_at, "submitted_at": at,
            "auto_approve_at": e.auto_approve_at, "answer": _json(e.answer),
        }),
    ]  # fmt: skip


@_handlers.on(SubmissionApproved)
def _approved(e: SubmissionApproved, at: int) -> list[Op]:
    return [_count(e.task_id, "approved"), *hset_many(
        submission_key(e.task_id, e.submission_id),
        {"status": "approved", "reviewed_at": at, "automatic": int(e.automatic),
         "reward": e.reward, "fee": e.fee},
    )]  # fmt: skip


@_handlers.on(SubmissionRejected)
def _rejected(e: SubmissionRejected, at: int) -> list[Op]:
    return [_count(e.task_id, "rejected"), *hset_many(
        submission_key(e.task_id, e.submission_id),
        {"status": "rejected", "reviewed_at": at, "reason": e.reason},
    )]  # fmt: skip


@_handlers.on(RejectionDisputed)
def _disputed(e: RejectionDisputed, at: int) -> list[Op]:
    return [_count(e.task_id, "disputed"), *hset_many(
        submission_key(e.task_id, e.submission_id),
        {"disputed_at": at, "dispute_reason": e.reason},
    )]  # fmt: skip


@_handlers.on(RejectionOverturned)
def _overturned(e: RejectionOverturned, at: int) -> list[Op]:
    return [_count(e.task_id, "overturned"), *hset_many(
        submission_key(e.task_id, e.submission_id),
        {"status": "overturned", "overturned_at": at, "overturned_by": e.overturned_by,
         "reward": e.reward, "fee": e.fee},
    )]  # fmt: skip


@_handlers.on(BonusGranted)
def _bonus(e: BonusGranted, at: int) -> list[Op]:
    return [_count(e.task_id, "bonuses"), _count(e.task_id, "bonus_amount", e.amount)]


@_handlers.on(TaskCancelled)
def _cancelled(e: TaskCancelled, at: int) -> list[Op]:
    return _close(e.task_id, "cancelled", at)


@_handlers.on(TaskExpired)
def _task_expired(e: TaskExpired, at: int) -> list[Op]:
    return _close(e.task_id, "expired", at)
