"""Commands: what clients and timers ask for, imperative. The domain may refuse any of them.

`partition_key` routes a command to the one processor that owns its aggregates: the
requester for its account and tasks, the worker for its wallet.
"""

from __future__ import annotations

from schemas import ids, rules
from schemas.catalogue import COMMANDS, Record

command = COMMANDS.register
MAX_REASON = 2_000
MAX_ALTERNATIVES = 31  # with the task itself, 32 tasks per ClaimTask
DEFAULT_AUTO_APPROVE_SECONDS = 3 * 24 * 3600


class _OnTask:
    """Mixin: commands about a task route to the task's requester."""

    __slots__ = ()
    task_id: str

    @property
    def partition_key(self) -> str:
        return ids.requester_of_task(self.task_id)

    def __post_init__(self) -> None:
        ids.task_id("task_id", self.task_id)
        for name in ("worker_id", "requester_id"):
            value = getattr(self, name, None)
            if value is not None:
                rules.ident(name, value)


class _ByRequester:
    __slots__ = ()
    requester_id: str

    @property
    def partition_key(self) -> str:
        return self.requester_id


class _ByWorker:
    __slots__ = ()
    worker_id: str

    @property
    def partition_key(self) -> str:
        return self.worker_id


@command()
class DepositFunds(Record, _ByRequester):
    requester_id: str
    amount: int
    currency: str

    def __post_init__(self) -> None:
        rules.ident("requester_id", self.requester_id)
        rules.amount("amount", self.amount, positive=True)
        rules.currency("currency", self.currency)


@command()
class TaskSpec(Record):
    """One task of a PostTasks batch, as the requester describes it."""

    kind: str
    reward: int
    currency: str
    estimated_seconds: int
    title: str = ""
    assignments: int = 1
    lease_seconds: int = 900
    lifetime_seconds: int = 7 * 24 * 3600
    auto_approve_seconds: int = DEFAULT_AUTO_APPROVE_SECONDS
    priority: int = 0
    qualifications: tuple[str, ...] = ()
    payload: object = None
    payload_ref: str | None = None

    def __post_init__(self) -> None:
        rules.kind("kind", self.kind)
        rules.amount("reward", self.reward, positive=True)
        rules.currency("currency", self.currency)
        rules.duration("estimated_seconds", self.estimated_seconds)
        rules.text("title", self.title, limit=200, required=False)
        if not 1 <= self.assignments <= 1_000:
            raise ValueError(f"assignments must be in [1, 1000], got {self.assignments}")
        rules.duration("lease_seconds", self.lease_seconds, minimum=10)
        rules.duration("lifetime_seconds", self.lifetime_seconds, minimum=60)
        rules.duration("auto_approve_seconds", self.auto_approve_seconds, minimum=1)
        if not -1_000 <= self.priority <= 1_000:
            raise ValueError(f"priority must be in [-1000, 1000], got {self.priority}")
        for q in self.qualifications:
            rules.ident("qualifications[]", q)
        if self.payload is None and self.payload_ref is None:
            raise ValueError("a task needs a payload or a payload_ref")


@command()
class PostTasks(Record, _ByRequester):
    requester_id: str
    batch_id: str
    tasks: tuple[TaskSpec, ...]

    def __post_init__(self) -> None:
        rules.ident("requester_id", self.requester_id)
        rules.ident("batch_id", self.batch_id)
        if not self.tasks:
            raise ValueError("a batch needs at least one task")
        if len({t.currency for t in self.tasks}) > 1:
            raise ValueError("all tasks of a batch must use one currency")


@command(version=2)
class ClaimTask(Record, _OnTask):
    """Claim `task_id`, or else the first of `alternatives` with a free assignment.

    The alternatives are more tasks of the same requester, so one processor decides the
    whole list in one step: a worker racing others for the head of the queue loses one
    round trip per list, not one per task (see docs/DESIGN.md, claim-next).
    """

    task_id: str
    worker_id: str
    qualifications: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _OnTask.__post_init__(self)
        rules.alternatives("alternatives", self.task_id, self.alternatives, MAX_ALTERNATIVES)

    @property
    def candidates(self) -> tuple[str, ...]:
        """The tasks to try, in order: the named one, then its alternatives."""
        return (self.task_id, *self.alternatives)


@command()
class ReleaseClaim(Record, _OnTask):
    task_id: str
    claim_id: str
    worker_id: str


@command()
class SubmitWork(Record, _OnTask):
    task_id: str
    claim_id: str
    worker_id: str
    answer: object


@command()
class ApproveSubmission(Record, _OnTask):
    task_id: str
    submission_id: str
    requester_id: str


@command()
class RejectSubmission(Record, _OnTask):
    task_id: str
    submission_id: str
    requester_id: str
    reason: str

    def __post_init__(self) -> None:
        _OnTask.__post_init__(self)
        rules.text("reason", self.reason, limit=MAX_REASON)


MAX_REVIEW_ITEMS = 1_000
DECISIONS = frozenset({"approve", "reject"})


@command()
class ReviewItem(Record):
    """One decision of a ReviewSubmissions command (not a command on its own)."""

    submission_id: str
    decision: str
    reason: str = ""

    def __post_init__(self) -> None:
        rules.text("submission_id", self.submission_id, limit=200)
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {sorted(DECISIONS)}, got {self.decision!r}")
        rules.text("reason", self.reason, limit=MAX_REASON, required=self.decision == "reject")


@command()
class ReviewSubmissions(Record, _ByRequester):
    """Approve or reject up to 1,000 submissions of one requester in one step: all its
    tasks live on its partition, so one processor decides every item, each as
    ApproveSubmission or RejectSubmission would, and answers item by item."""

    requester_id: str
    items: tuple[ReviewItem, ...]

    def __post_init__(self) -> None:
        rules.ident("requester_id", self.requester_id)
        if not 1 <= len(self.items) <= MAX_REVIEW_ITEMS:
            raise ValueError(f"items must hold 1 to {MAX_REVIEW_ITEMS}, got {len(self.items)}")
        seen: set[str] = set()
        for item in self.items:
            task = ids.task_of_claim(item.submission_id)
            if ids.requester_of_task(task) != self.requester_id:
                raise ValueError(f"submission {item.submission_id!r} is not {self.requester_id}'s")
            if item.submission_id in seen:
                raise ValueError(f"submission {item.submission_id!r} appears twice")
            seen.add(item.submission_id)


MAXIMUM_SUITE = 50  # claims per suite request, items per submit-many or release-many
MAX_SUITE_CANDIDATES = 4 * MAXIMUM_SUITE  # tasks one ClaimSuite may try


def _of_requester(requester_id: str, claim_ids: tuple[str, ...], limit: int) -> None:
    """1 to `limit` distinct claim ids, each of a task of `requester_id`."""
    if not 1 <= len(claim_ids) <= limit:
        raise ValueError(f"items must hold 1 to {limit}, got {len(claim_ids)}")
    if len(set(claim_ids)) != len(claim_ids):
        raise ValueError("a claim appears twice")
    for claim_id in claim_ids:
        if ids.requester_of_task(ids.task_of_claim(claim_id)) != requester_id:
            raise ValueError(f"claim {claim_id!r} is not on a task of {requester_id}")


@command()
class ClaimSuite(Record, _ByRequester):
    """Claim up to `count` of `candidates` (tasks of one requester, tried in order) in one
    step: each claim decided as ClaimTask would, each with its own lease, never two on one
    task. One requester's tasks live on its partition, so one processor decides them all."""

    requester_id: str
    worker_id: str
    candidates: tuple[str, ...]
    count: int
    qualifications: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        rules.ident("requester_id", self.requester_id)
        rules.ident("worker_id", self.worker_id)
        if not 1 <= self.count <= MAXIMUM_SUITE:
            raise ValueError(f"count must be in [1, {MAXIMUM_SUITE}], got {self.count}")
        if not self.candidates:
            raise ValueError("a suite needs at least one candidate task")
        for i, task in enumerate(self.candidates):
            ids.task_id(f"candidates[{i}]", task)
        if ids.requester_of_task(self.candidates[0]) != self.requester_id:
            raise ValueError(f"candidates must be tasks of {self.requester_id}")
        rules.alternatives("candidates", self.candidates[0], self.candidates[1:],
                           MAX_SUITE_CANDIDATES - 1)  # fmt: skip


@command()
class SuiteAnswer(Record):
    """One answer of a SubmitSuite command (not a command on its own)."""

    claim_id: str
    answer: object

    def __post_init__(self) -> None:
        rules.text("claim_id", self.claim_id, limit=200)
        if self.answer is None:
            raise ValueError("answer must not be null")


@command()
class SubmitSuite(Record, _ByRequester):
    """Submit the work of up to MAXIMUM_SUITE live claims on one requester's tasks, each
    item decided as SubmitWork would and answered on its own."""

    requester_id: str
    worker_id: str
    items: tuple[SuiteAnswer, ...]

    def __post_init__(self) -> None:
        rules.ident("worker_id", self.worker_id)
        _of_requester(self.requester_id, tuple(i.claim_id for i in self.items), MAXIMUM_SUITE)


@command()
class ReleaseSuite(Record, _ByRequester):
    """Give back up to MAXIMUM_SUITE live claims on one requester's tasks, each item decided
    as ReleaseClaim would and answered on its own."""

    requester_id: str
    worker_id: str
    claim_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        rules.ident("worker_id", self.worker_id)
        _of_requester(self.requester_id, self.claim_ids, MAXIMUM_SUITE)


@command()
class GrantBonus(Record, _OnTask):
    task_id: str
    worker_id: str
    requester_id: str
    amount: int
    reason: str

    def __post_init__(self) -> None:
        _OnTask.__post_init__(self)
        rules.amount("amount", self.amount, positive=True)
        rules.text("reason", self.reason, limit=MAX_REASON)


@command()
class DisputeRejection(Record, _OnTask):
    task_id: str
    submission_id: str
    worker_id: str
    reason: str

    def __post_init__(self) -> None:
        _OnTask.__post_init__(self)
        rules.text("reason", self.reason, limit=MAX_REASON)


@command()
class OverturnRejection(Record, _OnTask):
    task_id: str
    submission_id: str


@command()
class CancelTask(Record, _OnTask):
    task_id: str
    requester_id: str


@command()
class ExpireTask(Record, _OnTask):
    task_id: str


@command()
class ExpireClaim(Record, _OnTask):
    task_id: str
    claim_id: str


@command()
class AutoApprove(Record, _OnTask):
    task_id: str
    submission_id: str


@command()
class CreditWorker(Record, _ByWorker):
    """Emitted by the processor itself, in the transaction that approved the work."""

    worker_id: str
    source_event_id: str
    requester_id: str
    task_id: str
    amount: int
    currency: str


@command()
class IssuePayout(Record, _ByWorker):
    worker_id: str
    payout_id: str
    amount: int
    currency: str

    def __post_init__(self) -> None:
        rules.ident("worker_id", self.worker_id)
        rules.ident("payout_id", self.payout_id)
        rules.amount("amount", self.amount, positive=True)
        rules.currency("currency", self.currency)
