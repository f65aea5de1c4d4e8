"""Request bodies as strict dataclasses: one source for validation and the OpenAPI schemas."""

from __future__ import annotations

from dataclasses import dataclass

from broker.api.json_input import check_encoded_size
from schemas import rules
from schemas.commands import MAX_REASON, TaskSpec
from schemas.limits import MAX_ANSWER_BYTES


@dataclass(frozen=True, slots=True)
class DepositBody:
    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class BatchBody:
    batch_id: str
    tasks: tuple[TaskSpec, ...]

    def __post_init__(self) -> None:
        # Room for the ".k" chunk suffix the API adds when it splits a large batch.
        if len(self.batch_id) > 48:
            raise ValueError("batch_id must be at most 48 characters")
        rules.ident("batch_id", self.batch_id)
        if not self.tasks:
            raise ValueError("a batch needs at least one task")


@dataclass(frozen=True, slots=True)
class ReasonBody:
    reason: str

    def __post_init__(self) -> None:
        rules.text("reason", self.reason, limit=MAX_REASON)


@dataclass(frozen=True, slots=True)
class SubmitBody:
    answer: object

    def __post_init__(self) -> None:
        if self.answer is None:
            raise ValueError("answer must not be null")
        # Free-form: bounded by its size in the log (schemas.limits), a 413 naming it.
        check_encoded_size("answer", self.answer, MAX_ANSWER_BYTES, "answer_too_large")


@dataclass(frozen=True, slots=True)
class BonusBody:
    worker_id: str
    amount: int
    reason: str


@dataclass(frozen=True, slots=True)
class ActorBody:
    actor_id: str
    role: str
    qualifications: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PayoutBody:
    worker_id: str
    amount: int
    currency: str
    payout_id: str | None = None
