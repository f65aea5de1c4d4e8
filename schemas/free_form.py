"""Free-form fields (`payload`, `answer`: annotated `object`) hold JSON values: checked
where bytes become records, not each time a record is built.

The API's JSON parser only ever yields JSON values, and the domain builds events from
commands already decoded, so the check belongs to the decoders (schemas/codec.py): a
record written straight to Kafka with msgpack ext types, timestamps or binary in its
payload is refused there. Checking in `__post_init__` as well walked a task's payload
three times on its way from the API to the views (~3 us each, 10% of the processor's
CPU under ingest: BENCHMARKS.md).
"""

from __future__ import annotations

import typing
from functools import cache
from typing import Any

from schemas.fields import fields_of, is_model
from schemas.rules import json_value

# (field, None) for a free-form field; (field, model) for a model, or a tuple of models,
# that holds free-form fields of its own.
Plan = tuple[tuple[str, type | None], ...]


@cache
def _plan(cls: type) -> Plan:
    hints = typing.get_type_hints(cls)
    plan: list[tuple[str, type | None]] = []
    for field in fields_of(cls):
        hint = hints[field.name]
        args = typing.get_args(hint)
        if hint is object or hint is Any:
            plan.append((field.name, None))
        elif typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis:
            if isinstance(args[0], type) and is_model(args[0]) and _plan(args[0]):
                plan.append((field.name, args[0]))
        elif isinstance(hint, type) and is_model(hint) and _plan(hint):
            plan.append((field.name, hint))
    return tuple(plan)


def check(record: Any, where: str = "") -> None:
    """SchemaError naming the first free-form value of `record` that is not JSON."""
    for name, inner in _plan(type(record)):
        value = getattr(record, name)
        path = f"{where}.{name}" if where else name
        if inner is None:
            json_value(path, value)
        elif isinstance(value, tuple):
            for i, item in enumerate(value):
                check(item, f"{path}[{i}]")
        elif value is not None:
            check(value, path)
