"""Field rules shared by events and commands: ids, amounts, currencies, durations.

The grammar of the ids piecework mints (tasks, claims) is in schemas.ids.
"""

from __future__ import annotations

import re

from schemas import ids
from schemas.errors import SchemaError
from schemas.money import CURRENCIES, MAX_AMOUNT

_ID = re.compile(ids.IDENT)
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


def alternatives(name: str, first: str, values: tuple[str, ...], limit: int) -> None:
    """More task ids of `first`'s requester, distinct, at most `limit` of them."""
    if len(values) > limit:
        raise SchemaError(f"{name}: at most {limit} task ids, got {len(values)}",
                          "invalid_alternatives")  # fmt: skip
    requester = ids.requester_of_task(first)
    for i, value in enumerate(values):
        ids.task_id(f"{name}[{i}]", value)
        if ids.requester_of_task(value) != requester:
            raise SchemaError(f"{name}[{i}]: {value!r} is not a task of requester {requester!r}"
                              " (one claim is decided by one requester's partition)",
                              "invalid_alternatives")  # fmt: skip
    if len({first, *values}) != len(values) + 1:
        raise SchemaError(f"{name}: a task id appears twice", "invalid_alternatives")


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


_JSON_LEAVES = frozenset({str, int, float, bool, type(None)})


def json_value(name: str, value: object) -> None:
    """A free-form field (payload, answer) holds what JSON holds: objects with string keys,
    arrays, strings, numbers, booleans, null. The API only ever writes those; a record
    carrying anything else (msgpack ext types or timestamps, binary, non-string keys) is
    refused, as its views could not show it. Loops, not recursion: no depth crashes it;
    the place of the offence is looked for only once there is one."""
    if type(value) in _JSON_LEAVES or _is_json(value):
        return
    where, reason = _offence(name, value)
    raise SchemaError(f"{where}: {reason}")


def _is_json(value: object) -> bool:
    leaves = _JSON_LEAVES
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            for key, inner in item.items():  # type: ignore[attr-defined]
                if type(key) is not str:
                    return False
                if type(inner) not in leaves:
                    stack.append(inner)
        elif kind is list or kind is tuple:
            stack.extend(inner for inner in item if type(inner) not in leaves)  # type: ignore[attr-defined]
        elif kind not in leaves:
            return False
    return True


def _offence(name: str, value: object) -> tuple[str, str]:
    """(where, why) of the first value _is_json refuses."""
    stack: list[tuple[str, object]] = [(name, value)]
    while stack:
        where, item = stack.pop()
        kind = type(item)
        if kind is dict:
            for key, inner in item.items():  # type: ignore[attr-defined]
                if type(key) is not str:
                    return where, (f"a key of type {type(key).__name__} is not a JSON object"
                                   " key (string keys only)")  # fmt: skip
                stack.append((f"{where}.{key}", inner))
        elif kind is list or kind is tuple:
            stack.extend((f"{where}[{i}]", inner) for i, inner in enumerate(item))  # type: ignore[arg-type]
        elif kind not in _JSON_LEAVES:
            return where, f"a {kind.__name__} is not a JSON value"
    return name, "not a JSON value"
