"""The task aggregate's state and its fold.

Escrow: each assignment slot holds reward + fee while it can still earn (free, claimed
or submitted-pending). A slot releases its escrow when it can no longer earn: on a
rejection, on cancel or expiry for the slots still free, and on the release or expiry of
a claim once the task is closed (on an open task the slot just returns to the pool).
Used slots = live claims + every submission whatever its review (a rejected assignment
is consumed, as on MTurk), and used <= assignments always.

TaskClaimed and WorkSubmitted carry deadlines, not their own instants; both deadlines
are decided as now + a fixed duration of the task, so the fold recovers the instant
exactly (claimed_at = lease_expires_at - lease, submitted_at = auto_approve_at - delay).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from broker.domain.growset import GrowSet
from schemas import events as ev

OPEN, CANCELLED, EXPIRED = "open", "cancelled", "expired"
PENDING, APPROVED, REJECTED, OVERTURNED = "pending", "approved", "rejected", "overturned"


class Claim(NamedTuple):
    worker_id: str
    claimed_at: int
    lease_expires_at: int


class Submission(NamedTuple):
    worker_id: str
    claimed_at: int
    submitted_at: int
    status: str
    disputed: bool
    auto_approve_at: int


_NONE: Mapping[str, Any] = MappingProxyType({})


@dataclasses.dataclass(frozen=True, slots=True)
class Terms:
    """What a task was posted with, fixed for its life."""

    requester_id: str
    reward: int
    fee: int
    currency: str
    assignments: int
    lease_seconds: int
    expires_at: int
    auto_approve_seconds: int
    qualifications: tuple[str, ...]


# Tasks posted alike (a batch of one spec: the usual case) share one Terms: the processor
# holds every live task, and its own copies of nine values cost ~500 B a task. A cache of
# immutable values changes no result, only how many equal objects exist.
_shared_terms = functools.lru_cache(maxsize=4_096)(Terms)
_NOBODY = GrowSet()  # GrowSet.add never writes into an empty set's dict


def _term(name: str) -> property:
    return property(lambda task: getattr(task.terms, name), doc=f"Terms.{name}")


@dataclasses.dataclass(frozen=True, slots=True)
class Task:
    """Contained mappings are copy-on-write: never mutate them, evolve a new Task."""

    task_id: str
    terms: Terms
    status: str = OPEN
    # Read-only empties shared by every new task: a million open tasks hold no dicts.
    claims: Mapping[str, Claim] = dataclasses.field(default_factory=lambda: _NONE)
    submissions: Mapping[str, Submission] = dataclasses.field(default_factory=lambda: _NONE)
    claimers: GrowSet = dataclasses.field(default_factory=lambda: _NOBODY)
    claim_count: int = 0
    version: int = 1

    requester_id = _term("requester_id")
    reward = _term("reward")
    fee = _term("fee")
    currency = _term("currency")
    assignments = _term("assignments")
    lease_seconds = _term("lease_seconds")
    expires_at = _term("expires_at")
    auto_approve_seconds = _term("auto_approve_seconds")
    qualifications = _term("qualifications")

    @property
    def unit(self) -> int:
        """Escrow one slot holds: the reward and the platform's fee."""
        return self.reward + self.fee

    @property
    def used(self) -> int:
        return len(self.claims) + len(self.submissions)

    @property
    def free(self) -> int:
        return self.assignments - self.used

    def held_escrow(self) -> int:
        """Escrow this task still holds on its requester's account."""
        if self.status == OPEN:
            done = sum(1 for s in self.submissions.values() if s.status != PENDING)
            return (self.assignments - done) * self.unit
        pending = sum(1 for s in self.submissions.values() if s.status == PENDING)
        return (len(self.claims) + pending) * self.unit


def _without(mapping: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


def _with(mapping: Mapping[str, Any], key: str, value: Any) -> dict[str, Any]:
    return {**mapping, key: value}


def _posted(task: Task | None, e: ev.TaskPosted) -> Task:
    if task is not None:
        raise ValueError(f"task {e.task_id} posted twice")
    terms = _shared_terms(
        e.requester_id, e.reward, e.fee, e.currency, e.assignments, e.lease_seconds,
        e.expires_at, e.auto_approve_seconds, tuple(e.qualifications),
    )  # fmt: skip
    return Task(e.task_id, terms)


def _claimed(t: Task, e: ev.TaskClaimed) -> dict[str, Any]:
    claim = Claim(e.worker_id, e.lease_expires_at - t.lease_seconds * 1000, e.lease_expires_at)
    return {
        "claims": _with(t.claims, e.claim_id, claim),
        "claimers": t.claimers.add(e.worker_id),
        "claim_count": t.claim_count + 1,
    }


def _claim_ended(t: Task, e: ev.ClaimReleased | ev.ClaimExpired) -> dict[str, Any]:
    return {"claims": _without(t.claims, e.claim_id)}


def _submitted(t: Task, e: ev.WorkSubmitted) -> dict[str, Any]:
    submitted_at = e.auto_approve_at - t.auto_approve_seconds * 1000
    sub = Submission(e.worker_id, e.claimed_at, submitted_at, PENDING, False, e.auto_approve_at)
    return {
        "claims": _without(t.claims, e.claim_id),
        "submissions": _with(t.submissions, e.submission_id, sub),
    }


def _review(status: str) -> Callable[[Task, Any], dict[str, Any]]:
    def fold(t: Task, e: Any) -> dict[str, Any]:
        sub = t.submissions[e.submission_id]._replace(status=status)
        return {"submissions": _with(t.submissions, e.submission_id, sub)}

    return fold


def _disputed(t: Task, e: ev.RejectionDisputed) -> dict[str, Any]:
    sub = t.submissions[e.submission_id]._replace(disputed=True)
    return {"submissions": _with(t.submissions, e.submission_id, sub)}


_CHANGES: dict[type, Callable[[Task, Any], dict[str, Any]]] = {
    ev.TaskClaimed: _claimed,
    ev.ClaimReleased: _claim_ended,
    ev.ClaimExpired: _claim_ended,
    ev.WorkSubmitted: _submitted,
    ev.SubmissionApproved: _review(APPROVED),
    ev.SubmissionRejected: _review(REJECTED),
    ev.RejectionOverturned: _review(OVERTURNED),
    ev.RejectionDisputed: _disputed,
    ev.BonusGranted: lambda t, e: {},
    ev.TaskCancelled: lambda t, e: {"status": CANCELLED},
    ev.TaskExpired: lambda t, e: {"status": EXPIRED},
}
TASK_EVENTS = frozenset({ev.TaskPosted, *_CHANGES})


def evolve_task(task: Task | None, event: Any) -> Task:
    """Fold one task event; TaskPosted starts the aggregate (version 1)."""
    if isinstance(event, ev.TaskPosted):
        return _posted(task, event)
    if task is None:
        raise ValueError(f"{type(event).__name__} before TaskPosted")
    changes = _CHANGES[type(event)](task, event)
    return dataclasses.replace(task, version=task.version + 1, **changes)
