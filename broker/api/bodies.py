"""Request bodies as strict dataclasses: one source for validation and the OpenAPI schemas.

The checks are the commands' own (schemas.rules); the Schema annotations repeat their
bounds for the document (broker/api/hints.py), and tests/unit/test_openapi.py holds the two
together by sending the document's edge values through the real checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from broker.api.hints import Schema, describe_fields
from broker.api.json_input import check_encoded_size
from schemas import ids, rules
from schemas.commands import DECISIONS, MAX_REASON, ReviewItem, TaskSpec
from schemas.limits import MAX_ANSWER_BYTES, MAX_PAYLOAD_BYTES
from schemas.money import CURRENCIES, MAX_AMOUNT

IDENT = Schema(pattern=f"^{ids.IDENT}$")
Ident = Annotated[str, IDENT]
Amount = Annotated[int, Schema(minimum=1, maximum=MAX_AMOUNT,
                               description="micro-units (10^-6) of the currency")]  # fmt: skip
Currency = Annotated[str, Schema(enum=sorted(CURRENCIES))]
Reason = Annotated[str, Schema(minLength=1, maxLength=MAX_REASON)]
# The largest duration rules.duration accepts, in seconds.
_SECONDS = rules.MAX_DURATION_SECONDS

describe_fields(
    TaskSpec,
    kind=Schema(enum=sorted(rules.KINDS)),
    reward=Amount.__metadata__[0],
    currency=Currency.__metadata__[0],
    estimated_seconds=Schema(minimum=1, maximum=_SECONDS),
    title=Schema(maxLength=200),
    assignments=Schema(minimum=1, maximum=1_000),
    lease_seconds=Schema(minimum=10, maximum=_SECONDS),
    lifetime_seconds=Schema(minimum=60, maximum=_SECONDS),
    auto_approve_seconds=Schema(minimum=1, maximum=_SECONDS),
    priority=Schema(minimum=-1_000, maximum=1_000),
    qualifications=Schema(items={"type": "string", "pattern": IDENT.keywords["pattern"]}),
    payload=Schema(description=f"any JSON value, at most {MAX_PAYLOAD_BYTES} bytes"
                               " msgpack-encoded (413 past it); needs it or payload_ref"),
)
describe_fields(
    ReviewItem,
    submission_id=Schema(minLength=1, maxLength=200),
    decision=Schema(enum=sorted(DECISIONS)),
    reason=Schema(maxLength=MAX_REASON, description="required to reject"),
)


@dataclass(frozen=True, slots=True)
class DepositBody:
    amount: Amount
    currency: Currency


@dataclass(frozen=True, slots=True)
class BatchBody:
    # At most 48: room for the ".k" chunk suffix the API adds when it splits a large batch.
    batch_id: Annotated[str, Schema(pattern=f"^{ids.IDENT}$", maxLength=48)]
    # past the policy's batch size (PIECEWORK_MAX_BATCH_TASKS): 413 batch_too_large
    tasks: Annotated[tuple[TaskSpec, ...], Schema(minItems=1)]

    def __post_init__(self) -> None:
        if len(self.batch_id) > 48:
            raise ValueError("batch_id must be at most 48 characters")
        rules.ident("batch_id", self.batch_id)
        if not self.tasks:
            raise ValueError("a batch needs at least one task")


@dataclass(frozen=True, slots=True)
class ReasonBody:
    reason: Reason

    def __post_init__(self) -> None:
        rules.text("reason", self.reason, limit=MAX_REASON)


@dataclass(frozen=True, slots=True)
class SubmitBody:
    answer: Annotated[object, Schema(description=f"any JSON value but null, at most"
                                                 f" {MAX_ANSWER_BYTES} bytes msgpack-encoded"
                                                 " (413 past it)")]  # fmt: skip

    def __post_init__(self) -> None:
        if self.answer is None:
            raise ValueError("answer must not be null")
        # Free-form: bounded by its size in the log (schemas.limits), a 413 naming it.
        check_encoded_size("answer", self.answer, MAX_ANSWER_BYTES, "answer_too_large")


@dataclass(frozen=True, slots=True)
class BonusBody:
    worker_id: Ident
    amount: Amount
    reason: Reason


@dataclass(frozen=True, slots=True)
class ActorBody:
    actor_id: Ident
    role: Annotated[str, Schema(enum=["requester", "worker", "operator"])]
    qualifications: tuple[Ident, ...] = ()


@dataclass(frozen=True, slots=True)
class PayoutBody:
    worker_id: Ident
    amount: Amount
    currency: Currency
    payout_id: Ident | None = None  # the API makes one up when left out
