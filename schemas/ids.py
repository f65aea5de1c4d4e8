"""The ids piecework mints itself, and how to read them back: tasks and claims.

A task id names its requester, `requester:batch:index`, so every command on it routes to
the requester's partition: one writer for the account and all its tasks (see
docs/DESIGN.md). A claim id names its task, `<task_id>:c<n>` (n counts the task's
claims), and a submission bears the id of the claim it ends, so an endpoint given only a
claim or submission id knows which partition decides on it. The minting and the parsing
sit together here so the two can never drift apart.
"""

from __future__ import annotations

import re

from schemas.errors import SchemaError

# What an actor, a batch or any other client-chosen id may hold.
IDENT = r"[A-Za-z0-9_.\-]{1,64}"
_TASK_ID = re.compile(rf"({IDENT}):({IDENT}):(\d{{1,7}})")
_CLAIM_MARK = "c"


def make_task_id(requester_id: str, batch_id: str, index: int) -> str:
    return f"{requester_id}:{batch_id}:{index}"


def task_id(name: str, value: str) -> None:
    """The field rule of a task id: SchemaError unless `value` is `requester:batch:index`."""
    if not _TASK_ID.fullmatch(value):
        raise SchemaError(f"{name} must look like requester:batch:index, got {value!r}")


def requester_of_task(value: str) -> str:
    return value.split(":", 1)[0]


def make_claim_id(task: str, number: int) -> str:
    """The id of the task's `number`-th claim (counted from 1)."""
    return f"{task}:{_CLAIM_MARK}{number}"


def task_of_claim(value: str) -> str:
    """The task id inside a claim or submission id; SchemaError if it is not one."""
    task, _, suffix = value.rpartition(":")
    if not suffix.startswith(_CLAIM_MARK) or not suffix[1:].isdigit():
        raise SchemaError(f"no claim or submission is named {value!r} (<task_id>:c<n>)")
    task_id("task_id", task)
    return task
