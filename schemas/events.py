"""The event catalogue: every fact of the marketplace, past tense, immutable.

Money fields are integer micro-units in the event's `currency`; instants are integer
milliseconds since the Unix epoch; durations are whole seconds. An event carries every
amount and instant its folds need (a submission names when its claim began), so every
view update is a read-free, commutative operation and replay needs no lookups.
docs/EVENTS.md documents each one; tests/unit/test_event_catalogue.py keeps them in sync.
"""

from __future__ import annotations

from schemas import ids, rules
from schemas.catalogue import EVENTS, Record

event = EVENTS.register

# --- requester account -------------------------------------------------------------


@event()
class FundsDeposited(Record):
    """A requester added money to its account; it becomes available for posting."""

    requester_id: str
    amount: int
    currency: str

    def __post_init__(self) -> None:
        rules.ident("requester_id", self.requester_id)
        rules.amount("amount", self.amount, positive=True)
        rules.currency("currency", self.currency)


@event()
class BatchPosted(Record):
    """A batch of tasks was accepted; escrow (rewards and fees of every assignment) is reserved."""

    requester_id: str
    batch_id: str
    task_count: int
    escrow: int
    currency: str

    def __post_init__(self) -> None:
        rules.ident("requester_id", self.requester_id)
        rules.ident("batch_id", self.batch_id)
        rules.amount("escrow", self.escrow)
        rules.currency("currency", self.currency)


# --- task ---------------------------------------------------------------------------


@event()
class TaskPosted(Record):
    """A task is open for claims: `assignments` distinct workers may each do it once."""

    task_id: str
    requester_id: str
    batch_id: str
    kind: str
    title: str
    reward: int
    fee: int
    currency: str
    assignments: int
    lease_seconds: int
    expires_at: int
    auto_approve_seconds: int
    estimated_seconds: int
    priority: int
    qualifications: tuple[str, ...]
    payload: object
    payload_ref: str | None
    below_wage_floor: bool

    def __post_init__(self) -> None:
        ids.task_id("task_id", self.task_id)
        rules.kind("kind", self.kind)
        rules.amount("reward", self.reward)
        rules.amount("fee", self.fee)
        rules.currency("currency", self.currency)


@event()
class TaskClaimed(Record):
    """A worker holds one assignment of the task until `lease_expires_at`."""

    task_id: str
    claim_id: str
    worker_id: str
    lease_expires_at: int


@event()
class ClaimReleased(Record):
    """The worker gave the assignment back before submitting (unpaid work, by choice)."""

    task_id: str
    claim_id: str
    worker_id: str
    claimed_at: int
    released_escrow: int
    currency: str


@event()
class ClaimExpired(Record):
    """The lease ran out before a submission: the assignment returns to the pool."""

    task_id: str
    claim_id: str
    worker_id: str
    claimed_at: int
    released_escrow: int
    currency: str


@event()
class WorkSubmitted(Record):
    """The worker handed in its answer; payment now waits on the requester's review."""

    task_id: str
    claim_id: str
    submission_id: str
    worker_id: str
    answer: object
    claimed_at: int
    auto_approve_at: int


@event()
class SubmissionApproved(Record):
    """The work is accepted: `reward` is owed to the worker, `fee` to the platform."""

    task_id: str
    submission_id: str
    worker_id: str
    requester_id: str
    reward: int
    fee: int
    currency: str
    submitted_at: int
    automatic: bool


@event()
class SubmissionRejected(Record):
    """The requester refused the work: the worker is not paid and escrow returns to it."""

    task_id: str
    submission_id: str
    worker_id: str
    requester_id: str
    reason: str
    submitted_at: int
    released_escrow: int
    currency: str


@event()
class BonusGranted(Record):
    """An extra payment from the requester's available balance, with the platform's fee."""

    task_id: str
    worker_id: str
    requester_id: str
    amount: int
    fee: int
    currency: str
    reason: str


@event()
class RejectionDisputed(Record):
    """The worker contests a rejection; an operator or the requester may overturn it."""

    task_id: str
    submission_id: str
    worker_id: str
    reason: str


@event()
class RejectionOverturned(Record):
    """A rejection was reversed: the requester now pays reward and fee from its balance."""

    task_id: str
    submission_id: str
    worker_id: str
    requester_id: str
    reward: int
    fee: int
    currency: str
    overturned_by: str


@event()
class TaskCancelled(Record):
    """The requester withdrew the task: no new claims; unused escrow goes back."""

    task_id: str
    requester_id: str
    released_escrow: int
    currency: str


@event()
class TaskExpired(Record):
    """The task's lifetime ended: no new claims; unused escrow goes back."""

    task_id: str
    requester_id: str
    released_escrow: int
    currency: str


# --- worker wallet ------------------------------------------------------------------


@event()
class WorkerCredited(Record):
    """Money owed to a worker (an approval, bonus or overturn) reached its wallet."""

    worker_id: str
    source_event_id: str
    requester_id: str
    task_id: str
    amount: int
    currency: str

    def __post_init__(self) -> None:
        rules.amount("amount", self.amount)
        rules.currency("currency", self.currency)


@event()
class PayoutIssued(Record):
    """Money left the platform to the worker; never more than the wallet's balance."""

    worker_id: str
    payout_id: str
    amount: int
    currency: str

    def __post_init__(self) -> None:
        rules.amount("amount", self.amount, positive=True)
        rules.currency("currency", self.currency)


# --- what a worker is owed ------------------------------------------------------------

# The field of each paying event that is owed to its worker. The processor's outbox turns
# each such event into a CreditWorker (broker.domain.stamping) and the audit checks each is
# credited exactly once (audit.checks.credits): one table, so a new paying event
# cannot be credited by one side and missed by the other.
OWED_FIELD: dict[type, str] = {
    SubmissionApproved: "reward",
    BonusGranted: "amount",
    RejectionOverturned: "reward",
}
