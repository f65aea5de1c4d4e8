"""Field rules shared by events and commands: ids, amounts, currencies, durations."""

from __future__ import annotations

import re

from schemas.errors import SchemaError
from schemas.money import CURRENCIES, MAX_AMOUNT

_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# A task id names its requester so every command on it routes to the requester's
# partition: one writer for the account and all its tasks (see docs/DESIGN.md).
_TASK_ID = re.compile(r"([A-Za-z0-9_.\-]{1,64}):([A-Za-z0-9_.\-]{1,64}):(\d{1,7})")
MAX_DURATION_SECONDS = 365 * 24 * 3600
KINDS = frozenset(
    {
        "image_labelling",
        "keyword_check",
        "transcription",
        "translation",
        "survey",
        "sign_up",
        "content_moderation",
        "data_entry",
    }
)


def ident(name: str, value: str) -> None:
    if not _ID.fullmatch(value):
        raise SchemaError(f"{name} must be 1-64 characters of [A-Za-z0-9_.-], got {value!r}")


def task_id(name: str, value: str) -> None:
    if not _TASK_ID.fullmatch(value):
        raise SchemaError(f"{name} must look like requester:batch:index, got {value!r}")


def requester_of_task(value: str) -> str:
    return value.split(":", 1)[0]


def alternatives(name: str, first: str, values: tuple[str, ...], limit: int) -> None:
    """More task ids of `first`'s requester, distinct, at most `limit` of them."""
    if len(values) > limit:
        raise SchemaError(f"{name}: at most {limit} task ids, got {len(values)}",
                          "invalid_alternatives")  # fmt: skip
    requester = requester_of_task(first)
    for i, value in enumerate(values):
        task_id(f"{name}[{i}]", value)
        if requester_of_task(value) != requester:
            raise SchemaError(f"{name}[{i}]: {value!r} is not a task of requester {requester!r}"
                              " (one claim is decided by one requester's partition)",
                              "invalid_alternatives")  # fmt: skip
    if len({first, *values}) != len(values) + 1:
        raise SchemaError(f"{name}: a task id appears twice", "invalid_alternatives")


def make_task_id(requester_id: str, batch_id: str, index: int) -> str:
    return f"{requester_id}:{batch_id}:{index}"


def amount(name: str, value: int, *, positive: bool = False) -> None:
    low = 1 if positive else 0
    if not low <= value <= MAX_AMOUNT:
        raise SchemaError(
            f"{name} must be an integer of micro-units in [{low}, {MAX_AMOUNT}], got {value}",
            "invalid_amount",
        )


def currency(name: str, value: str) -> None:
    if value not in CURRENCIES:
        raise SchemaError(
            f"{name}: unknown currency {value!r} (known: {sorted(CURRENCIES)})", "unknown_currency"
        )


def duration(name: str, value: int, *, minimum: int = 1) -> None:
    if not minimum <= value <= MAX_DURATION_SECONDS:
        raise SchemaError(f"{name} must be in [{minimum}, {MAX_DURATION_SECONDS}] seconds")


def text(name: str, value: str, *, limit: int, required: bool = True) -> None:
    if required and not value.strip():
        raise SchemaError(f"{name} must not be empty", "missing_field")
    if len(value) > limit:
        raise SchemaError(f"{name} is longer than {limit} characters")


def kind(name: str, value: str) -> None:
    if value not in KINDS:
        raise SchemaError(f"{name}: unknown task kind {value!r} (known: {sorted(KINDS)})")
