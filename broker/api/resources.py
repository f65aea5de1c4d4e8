"""What the API answers: one dataclass per resource, for the handlers and the OpenAPI
document alike (a route's `out=`), so what is served cannot drift from what is described.

Handlers build a model with `typed(Model, found)` from a view's hash or a dict of plain
values (a command's reply), or construct it, and serve it with responses.reply. Every
field is always served (null where the type allows it), so none has a default: a value a
view has not written yet is None for an optional field, else the Schema's `default`.
Lists are capped by the limits that bound them (schemas.commands, consumers.queries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from broker.api.hints import Schema
from consumers.queries.listings import MAX_LIMIT
from schemas.commands import MAX_REVIEW_ITEMS

# The enums, spelt out for the document; tests/unit/test_resources.py holds them equal to
# the sets the domain and the views use.
Currency = Literal["EUR", "GBP", "USD"]
Kind = Literal["content_moderation", "data_entry", "image_labelling", "keyword_check",
               "sign_up", "survey", "transcription", "translation"]  # fmt: skip
Role = Literal["requester", "worker", "operator"]
TaskStatus = Literal["open", "cancelled", "expired"]  # the tasks view: open until closed
ClaimStatus = Literal["active", "released", "expired", "submitted"]
SubmissionStatus = Literal["submitted", "approved", "rejected", "overturned"]
# A batch's task, by its latest event (consumers/views/batches.py)
ListedTaskStatus = Literal["open", "claimed", "submitted", "approved", "rejected", "expired",
                           "cancelled"]  # fmt: skip
ListedSubmissionStatus = SubmissionStatus

Micro = Annotated[int, Schema(description="micro-units (10^-6) of the currency")]
Amount = Annotated[int, Schema(default=0, description="micro-units; 0 until money moves")]
Count = Annotated[int, Schema(minimum=0, default=0)]
Instant = Annotated[int, Schema(description="milliseconds since the epoch, broker's clock")]
Cursor = Annotated[str | None, Schema(description="the next page's cursor; null on the last")]
Ids = list[str]
resource = dataclass(frozen=True, slots=True, kw_only=True)


@resource
class Error:
    """Every refusal: a machine-readable code and a message for people."""

    code: str
    message: str


@resource
class Health:
    ok: bool


# --- the tasks view: one task, claim, submission


@resource
class Task:
    """A task's terms, payload and counters (claimed - released - expired_claims live or
    submitted claims, never above assignments)."""

    task_id: str
    status: TaskStatus
    requester: str
    batch: str  # the posted chunk: the requester's batch id, then .0, .1, ...
    kind: Kind
    title: str
    reward: Micro
    fee: Micro
    currency: Currency
    assignments: int
    lease_seconds: int
    expires_at: Instant
    auto_approve_seconds: int
    estimated_seconds: int
    priority: int
    qualifications: Ids
    payload: object  # the JSON value posted (null with a payload_ref)
    payload_ref: str | None
    below_wage_floor: bool
    posted_at: Instant
    closed_at: Instant | None
    claimed: Count
    released: Count
    expired_claims: Count
    submitted: Count
    approved: Count
    rejected: Count
    disputed: Count
    overturned: Count
    bonuses: Count
    bonus_amount: Amount


@resource
class Claim:
    claim_id: str
    task_id: str
    status: ClaimStatus
    worker: str
    claimed_at: Instant
    lease_expires_at: Instant
    ended_at: Instant | None
    submission: str | None


@resource
class Submission:
    submission_id: str
    task_id: str
    claim: str
    worker: str
    status: SubmissionStatus
    claimed_at: Instant
    submitted_at: Instant
    auto_approve_at: Instant
    answer: object  # the JSON value submitted
    reviewed_at: Instant | None
    automatic: bool | None  # approved by the auto-approval deadline
    reward: Micro | None
    fee: Micro | None
    reason: str | None
    disputed_at: Instant | None
    dispute_reason: str | None
    overturned_at: Instant | None
    overturned_by: str | None


# --- the ledger view


@resource
class WorkerAccount:
    earned: Amount
    credited: Amount
    paid: Amount
    balance: Amount


@resource
class RequesterAccount:
    deposited: Amount
    available: Amount
    escrow: Amount
    spent: Amount
    fees: Amount


@resource
class Ledger:
    """An account's balances per currency; a currency it never used is left out."""

    actor_id: str
    role: Literal["requester", "worker"]
    accounts: dict[Currency, WorkerAccount | RequesterAccount]


@resource
class PlatformTotals:
    """Sums over every account of a currency; imbalance is 0 when money is conserved."""

    deposits: Amount
    gross_spend: Amount
    fees: Amount
    payouts: Amount
    earned: Amount
    credited: Amount
    owed: Amount
    worker_paid: Amount
    worker_balances: Amount
    requester_deposited: Amount
    available: Amount
    escrow: Amount
    requester_spent: Amount
    requester_fees: Amount
    negative_accounts: Count
    imbalance: Amount


@resource
class PlatformLedger:
    totals: dict[Currency, PlatformTotals]
    violations: list[str]


# --- the batches view: listings


@resource
class Batch:
    batch_id: str
    posted_at: Instant
    currency: Currency
    chunks: Count
    tasks: Count
    claims: Count
    submissions: Count
    approved: Count
    rejected: Count
    overturned: Count
    bonuses: Count
    escrow: Amount
    spend: Amount


@resource
class BatchProgress(Batch):
    """A batch's counters and its tasks per status (status_counts, also at the top level,
    where approved and rejected count tasks in that status)."""

    requester_id: str
    open: Count
    claimed: Count
    submitted: Count
    expired: Count
    cancelled: Count
    status_counts: dict[ListedTaskStatus, int]


@resource
class BatchPage:
    requester_id: str
    items: Annotated[list[Batch], Schema(maxItems=MAX_LIMIT)]
    next_cursor: Cursor


@resource
class TaskPage:
    batch_id: str
    status: ListedTaskStatus | None
    items: Annotated[list[Task], Schema(maxItems=MAX_LIMIT)]
    next_cursor: Cursor


@resource
class SubmissionPage:
    status: ListedSubmissionStatus
    batch_id: str | None
    items: Annotated[list[Submission], Schema(maxItems=MAX_LIMIT)]
    next_cursor: Cursor


@resource
class TaskSubmissions:
    """A task's submissions in claim order, with their answers (cursor-paged)."""

    task_id: str
    items: Annotated[list[Submission], Schema(maxItems=MAX_LIMIT)]
    next_cursor: Cursor


# --- accepted commands: the command id, the events decided, what the caller could not know


@resource
class Outcome:
    command_id: str
    events: Ids


@resource
class Claimed(Outcome):
    task_id: str  # the task claimed: claim-next may take any of its candidates
    claim_id: str
    lease_expires_at: Instant


@resource
class Submitted(Outcome):
    submission_id: str
    auto_approve_at: Instant


@resource
class Released(Outcome):
    released_escrow: Micro  # what returned to the requester's available balance


@resource
class BonusPaid(Outcome):
    fee: Micro


@resource
class PostedChunk(Outcome):
    batch_id: str
    task_ids: Ids
    escrow: Micro
    currency: Currency
    below_wage_floor: Count  # tasks paying below the wage floor (posted, and flagged)


@resource
class ChunkRefusal:
    command_id: str
    code: str
    message: str


@resource
class PostedBatch:
    """A batch is posted in chunks, one command each: posted counts the tasks new now,
    existing those a retry found posted already; a refused chunk posted nothing."""

    batch_id: str
    task_ids: Ids
    posted: Count
    existing: Count
    commands: list[PostedChunk]
    refused: list[ChunkRefusal]


@resource
class ReviewResult:
    submission_id: str
    ok: bool
    code: str | None  # why not, when refused
    message: str | None


@resource
class Reviewed:
    """One outcome per item, in order; command_id is null when no item was the caller's."""

    command_id: str | None
    events: Ids
    results: Annotated[list[ReviewResult], Schema(maxItems=MAX_REVIEW_ITEMS)]
    approved: Count
    rejected: Count
    refused: Count


# --- actors and tokens (a token is shown once, when issued; its id names it afterwards)


@resource
class ActorCreated:
    actor_id: str
    role: Role
    token: str
    token_id: str


@resource
class TokenIssued:
    actor_id: str
    token: str
    token_id: str
    revoked: Ids


@resource
class TokenRef:
    token_id: str


@resource
class TokenList:
    actor_id: str
    tokens: list[TokenRef]


@resource
class TokensRevoked:
    actor_id: str
    revoked: Ids


# --- probes (broker/api/health.py): served without a token, never rate limited


@resource
class Live:
    """/livez: the API process answers; nothing else is looked at."""

    live: bool


@resource
class ReadyCheck:
    name: Literal["kafka", "redis", "views_lag"]
    ok: bool
    detail: str
    lag: Annotated[int | None, Schema(minimum=0, description="views_lag: records the"
                                      " slowest view is behind the events log")]  # fmt: skip


@resource
class Ready:
    """/readyz: 200 when every check passes, else 503 naming what is not ready."""

    ready: bool
    not_ready: Annotated[list[str], Schema(maxItems=3, description="the failing checks")]
    checks: Annotated[list[ReadyCheck], Schema(maxItems=3)]


# --- task suites: many claims, submissions or releases in one request (issue 13)
# (imported here, not above: other sections are appended by other changes at the same time)
from schemas.commands import MAXIMUM_SUITE  # noqa: E402


@resource
class SuiteClaim:
    task_id: str
    claim_id: str
    lease_expires_at: Instant
    reward: Micro
    currency: Currency


@resource
class ClaimedSuite:
    """The claims of a suite (POST /v1/claims with a body): 1 to `count` distinct tasks,
    each with its own lease; command_ids are the ClaimSuite commands that decided them."""

    command_ids: Annotated[Ids, Schema(minItems=1)]
    events: Ids
    claims: Annotated[list[SuiteClaim], Schema(minItems=1, maxItems=MAXIMUM_SUITE)]


@resource
class SubmitResult:
    claim_id: str
    ok: bool
    code: str | None  # why not, when refused
    message: str | None
    submission_id: str | None  # when submitted
    auto_approve_at: Instant | None


@resource
class SubmittedMany:
    """One outcome per item, in request order; one command per requester named."""

    command_ids: Ids
    events: Ids
    results: Annotated[list[SubmitResult], Schema(maxItems=MAXIMUM_SUITE)]
    submitted: Count
    refused: Count


@resource
class ReleaseResult:
    claim_id: str
    ok: bool
    code: str | None
    message: str | None
    released_escrow: Micro | None  # when released


@resource
class ReleasedMany:
    """One outcome per claim, in request order; the released tasks are offered again."""

    command_ids: Ids
    events: Ids
    results: Annotated[list[ReleaseResult], Schema(maxItems=MAXIMUM_SUITE)]
    released: Count
    refused: Count


# --- task groups, requester scorecards, the worker's statement (consumers/power)

FigureStatus = Annotated[Literal["ok", "insufficient_data"], Schema(
    description="insufficient_data: fewer reviews than min_reviews, so the value is null")]
GroupSort = Literal["reward_per_hour", "requester_wage", "newest"]
PerHour = Annotated[int | None, Schema(description="micro-units per hour; null without data")]
Share = Annotated[float | None, Schema(minimum=0, description="0..1; null without data")]
Ms = Annotated[int, Schema(minimum=0, default=0, description="milliseconds")]


@resource
class WageFigure:
    """A wage measured on reviewed work, with the reviews it rests on."""

    value: PerHour
    reviews: Count
    status: FigureStatus


@resource
class RateFigure:
    """A share of reviews with its 95 % Wilson interval [low, high]."""

    value: Share
    low: Share
    high: Share
    reviews: Count
    status: FigureStatus


@resource
class OutlierFigure:
    """The power report's rejection-outlier test (docs/METRICS.md); null when not judged."""

    flagged: bool | None
    threshold: Share
    reviews: Count
    status: FigureStatus


@resource
class ShareFigure:
    value: Share
    reviews: Count
    status: FigureStatus


@resource
class PayDelay:
    """Submission to approval, nearest-rank over the approvals' histogram, in seconds."""

    p50: int | None
    p95: int | None
    approvals: Count
    status: FigureStatus


@resource
class Scorecard:
    """What working for a requester has been worth, from the log (docs/METRICS.md): the
    same figures as the power report's `scorecards`."""

    requester_id: str
    currency: Currency
    min_reviews: int
    reviewed: Count
    approved: Count
    auto_approved: Count
    rejected: Count
    disputed: Count
    overturned: Count
    claims: Count
    work_ms: Ms
    unpaid_ms: Ms
    paid: Amount
    effective_hourly_wage: WageFigure
    promised_hourly_wage: PerHour
    realised_share_of_promised: Annotated[float | None, Schema(
        minimum=0, description="effective / promised wage; null without enough reviews")]
    rejection_rate: RateFigure
    rejection_outlier: OutlierFigure
    overturned_share: ShareFigure
    time_to_pay_seconds: PayDelay


@resource
class TaskGroup:
    """Open tasks of one requester with the same terms, as MTurk groups HITs; claim from it
    with the group's task ids, or with POST /v1/claims naming the group."""

    group_id: str
    requester_id: str
    kind: Kind
    reward: Micro
    currency: Currency
    estimated_seconds: int
    qualifications: Ids
    posted_at: Instant  # of its newest task
    open_tasks: Count
    free_assignments: Count
    reward_per_hour: PerHour
    requester: Scorecard


@resource
class TaskGroupPage:
    sort: GroupSort
    items: Annotated[list[TaskGroup], Schema(maxItems=MAX_LIMIT)]
    next_cursor: Cursor


@resource
class UnpaidTime:
    """Work time not paid, by cause; pending (awaiting review) may still be paid."""

    rejected: Ms
    released: Ms
    expired: Ms
    pending: Ms


@resource
class StatementTotals:
    pay: Amount  # rewards, approved or overturned
    bonuses: Amount
    paid: Amount  # pay + bonuses
    work_ms: Ms
    unpaid_ms: Ms  # rejected + released + expired, as the power report counts it
    unpaid_by_cause_ms: UnpaidTime
    pending_ms: Ms
    effective_hourly_wage: PerHour
    submitted: Count
    approved: Count
    rejected: Count
    overturned: Count
    released: Count
    expired: Count


@resource
class StatementLine(StatementTotals):
    requester_id: str


@resource
class StatementMoney:
    """The worker's ledger account in the statement's currency."""

    earned: Amount
    credited: Amount
    owed: Amount  # earned, not in the wallet yet
    balance: Amount  # in the wallet, not paid out
    paid_out: Amount
    pending: Amount  # earned, not paid out yet: owed + balance


@resource
class Statement:
    """A worker's pay, work and unpaid time, per requester and overall (docs/METRICS.md)."""

    worker_id: str
    currency: Currency
    overall: StatementTotals
    money: StatementMoney
    by_requester: list[StatementLine]


# --- signed checkpoints of the log (docs/AUDIT.md)


@resource
class CheckpointPartition:
    """One events partition's hash chain: `head` after its `n`-th record."""

    n: Count
    head: Annotated[str, Schema(description="64 hex digits (SHA-256)")]
    offset: Annotated[int, Schema(minimum=0, description="the partition's next offset")]


@resource
class CheckpointBody:
    """What the operator signed: the canonical JSON of this object (keys sorted, no
    spaces, ASCII) is the message of the Ed25519 signature."""

    version: int
    topic: str
    at: Instant
    partitions: dict[str, CheckpointPartition]
    totals: dict[Currency, dict[str, int]]
    previous: Annotated[str, Schema(description="SHA-256 (hex) of the previous checkpoint's "
                                                "signed bytes; empty for the first")]


@resource
class SignedCheckpoint:
    """The latest signed checkpoint, exactly as signed, to publish and verify against."""

    checkpoint: CheckpointBody
    signature: Annotated[str, Schema(description="base64 Ed25519 signature")]
    key_id: Annotated[str, Schema(description="SHA-256 (hex) of the raw public key, 32 digits")]
    fingerprint: Annotated[str, Schema(description="SHA-256 (hex) of the signed bytes")]
