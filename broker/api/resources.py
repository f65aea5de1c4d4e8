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
