"""Power-metric sums: the raw, commutative counters the wage and fairness metrics read.

Keys (all under `pw:power:`):
- `worker:{w}`            paid:{currency} (rewards + bonuses + overturns), work_ms (every
  finished claim), unpaid_ms (released and expired claims), counts submitted, released,
  expired, approved, rejected, overturned;
- `work:{w}`              `{task}|{submission}` -> work ms of a submission still pending
  or rejected (approval or overturn deletes it: it was paid);
- `rejected:{w}`          set of `{task}|{submission}` rejected and not overturned.
  Unpaid time of a worker = unpaid_ms + sum of work:{w} over rejected:{w}, computed by
  the query because a rejection does not carry the claim's start;
- `paid_by:{w}`           `{requester}:{currency}` -> micro-units (dependency);
- `by:{w}`                the worker's figures per requester, `{requester}:{name}`:
  work_ms, released_ms, expired_ms, submitted, released, expired, approved, rejected,
  overturned, bonus:{currency} (the worker's statement; rejected and pending time per
  requester come from `work:{w}` and `rejected:{w}`, whose refs start with the task id);
- `requester:{r}`         posted, below_floor, reviewed, approved, auto_approved,
  rejected, disputed, overturned, spend:{currency}, fees:{currency}; the work done on its
  tasks: work_ms (every finished claim), unpaid_ms (released and expired claims),
  submitted, released, expired; what it promised: offered:{currency} (reward x
  assignments) and offered_s:{currency} (estimated seconds x assignments);
- `ttp`, `ttp:{r}`        time to pay (submission -> approval) histograms, bucket -> count
  (consumers.power.histogram: percentiles without keeping every sample);
- `platform`              posted, below_floor, reviewed, rejected (the scorecards'
  leave-one-out rejection rate, without reading every requester).
"""

from __future__ import annotations

from typing import Any

from consumers.power.histogram import bucket
from consumers.power.histogram import bucket_bounds as bucket_bounds  # re-exported: power_stats
from consumers.stores.ops import Op, hdel, hincrby, hset, sadd, srem
from consumers.stores.store import Reader
from consumers.views.projection import Handlers
from schemas.events import (
    BonusGranted,
    ClaimExpired,
    ClaimReleased,
    RejectionDisputed,
    RejectionOverturned,
    SubmissionApproved,
    SubmissionRejected,
    TaskPosted,
    WorkSubmitted,
)
from schemas.ids import requester_of_task

VIEW = "power"
PREFIX = "pw:power:"
PLATFORM = "pw:power:platform"
TTP = "pw:power:ttp"


def worker_key(worker_id: str) -> str:
    return f"pw:power:worker:{worker_id}"


def work_key(worker_id: str) -> str:
    return f"pw:power:work:{worker_id}"


def rejected_key(worker_id: str) -> str:
    return f"pw:power:rejected:{worker_id}"


def paid_by_key(worker_id: str) -> str:
    return f"pw:power:paid_by:{worker_id}"


def by_requester_key(worker_id: str) -> str:
    return f"pw:power:by:{worker_id}"


def requester_key(requester_id: str) -> str:
    return f"pw:power:requester:{requester_id}"


def ttp_key(requester_id: str) -> str:
    return f"pw:power:ttp:{requester_id}"


_handlers = Handlers()
project = _handlers.projection()


@_handlers.on(TaskPosted)
def _posted(e: TaskPosted, at: int) -> list[Op]:
    requester = requester_key(e.requester_id)
    ops = [hincrby(PLATFORM, "posted", 1), hincrby(requester, "posted", 1),
           hincrby(requester, f"offered:{e.currency}", e.reward * e.assignments),
           hincrby(requester, f"offered_s:{e.currency}", e.estimated_seconds * e.assignments)]
    if e.below_wage_floor:
        ops += [hincrby(PLATFORM, "below_floor", 1),
                hincrby(requester_key(e.requester_id), "below_floor", 1)]  # fmt: skip
    return ops


def _unpaid_claim(e: ClaimReleased | ClaimExpired, at: int, counter: str) -> list[Op]:
    work = max(at - e.claimed_at, 0)
    key = worker_key(e.worker_id)
    r = requester_of_task(e.task_id)
    requester, by = requester_key(r), by_requester_key(e.worker_id)
    return [
        hincrby(key, "work_ms", work),
        hincrby(key, "unpaid_ms", work),
        hincrby(key, counter, 1),
        hincrby(requester, "work_ms", work),
        hincrby(requester, "unpaid_ms", work),
        hincrby(requester, counter, 1),
        hincrby(by, f"{r}:work_ms", work),
        hincrby(by, f"{r}:{counter}_ms", work),
        hincrby(by, f"{r}:{counter}", 1),
    ]


@_handlers.on(ClaimReleased)
def _released(e: ClaimReleased, at: int) -> list[Op]:
    return _unpaid_claim(e, at, "released")


@_handlers.on(ClaimExpired)
def _expired(e: ClaimExpired, at: int) -> list[Op]:
    # The timer fires shortly after the lease ends; its instant is the claim's end.
    return _unpaid_claim(e, at, "expired")


@_handlers.on(WorkSubmitted)
def _submitted(e: WorkSubmitted, at: int) -> list[Op]:
    work = max(at - e.claimed_at, 0)
    key = worker_key(e.worker_id)
    r = requester_of_task(e.task_id)
    requester, by = requester_key(r), by_requester_key(e.worker_id)
    return [
        hincrby(key, "work_ms", work),
        hincrby(key, "submitted", 1),
        hset(work_key(e.worker_id), f"{e.task_id}|{e.submission_id}", work),
        hincrby(requester, "work_ms", work),
        hincrby(requester, "submitted", 1),
        hincrby(by, f"{r}:work_ms", work),
        hincrby(by, f"{r}:submitted", 1),
    ]


def _paid(e: Any, amount: int) -> list[Op]:
    requester = requester_key(e.requester_id)
    return [
        hincrby(worker_key(e.worker_id), f"paid:{e.currency}", amount),
        hincrby(paid_by_key(e.worker_id), f"{e.requester_id}:{e.currency}", amount),
        hincrby(requester, f"spend:{e.currency}", amount + e.fee),
        hincrby(requester, f"fees:{e.currency}", e.fee),
    ]


@_handlers.on(SubmissionApproved)
def _approved(e: SubmissionApproved, at: int) -> list[Op]:
    requester = requester_key(e.requester_id)
    delay = bucket(at - e.submitted_at)
    ops = [
        *_paid(e, e.reward),
        hincrby(worker_key(e.worker_id), "approved", 1),
        hincrby(by_requester_key(e.worker_id), f"{e.requester_id}:approved", 1),
        hdel(work_key(e.worker_id), f"{e.task_id}|{e.submission_id}"),
        hincrby(requester, "reviewed", 1),
        hincrby(requester, "approved", 1),
        hincrby(PLATFORM, "reviewed", 1),
        hincrby(TTP, str(delay), 1),
        hincrby(ttp_key(e.requester_id), str(delay), 1),
    ]
    if e.automatic:
        ops.append(hincrby(requester, "auto_approved", 1))
    return ops


@_handlers.on(SubmissionRejected)
def _rejected(e: SubmissionRejected, at: int) -> list[Op]:
    requester = requester_key(e.requester_id)
    return [
        hincrby(worker_key(e.worker_id), "rejected", 1),
        hincrby(by_requester_key(e.worker_id), f"{e.requester_id}:rejected", 1),
        sadd(rejected_key(e.worker_id), f"{e.task_id}|{e.submission_id}"),
        hincrby(requester, "reviewed", 1),
        hincrby(requester, "rejected", 1),
        hincrby(PLATFORM, "reviewed", 1),
        hincrby(PLATFORM, "rejected", 1),
    ]


@_handlers.on(RejectionDisputed)
def _disputed(e: RejectionDisputed, at: int) -> list[Op]:
    return [hincrby(requester_key(requester_of_task(e.task_id)), "disputed", 1)]


@_handlers.on(RejectionOverturned)
def _overturned(e: RejectionOverturned, at: int) -> list[Op]:
    ref = f"{e.task_id}|{e.submission_id}"
    return [
        *_paid(e, e.reward),
        hincrby(worker_key(e.worker_id), "overturned", 1),
        hincrby(by_requester_key(e.worker_id), f"{e.requester_id}:overturned", 1),
        srem(rejected_key(e.worker_id), ref),
        hdel(work_key(e.worker_id), ref),
        hincrby(requester_key(e.requester_id), "overturned", 1),
    ]


@_handlers.on(BonusGranted)
def _bonus(e: BonusGranted, at: int) -> list[Op]:
    bonus = hincrby(by_requester_key(e.worker_id), f"{e.requester_id}:bonus:{e.currency}",
                    e.amount)  # fmt: skip
    return [*_paid(e, e.amount), bonus]


def worker_times(reader: Reader, worker_id: str) -> dict[str, int]:
    """Total and unpaid work ms of a worker, joining the rejected set with the work hash."""
    sums = reader.hgetall(worker_key(worker_id))
    work = reader.hgetall(work_key(worker_id))
    rejected = sum(int(work.get(ref, 0)) for ref in reader.smembers(rejected_key(worker_id)))
    return {
        "work_ms": int(sums.get("work_ms", 0)),
        "unpaid_ms": int(sums.get("unpaid_ms", 0)) + rejected,
    }
