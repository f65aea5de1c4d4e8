"""The audit's checks: each a fold over (partition, position, event) records, in its module.

A check observes records one at a time (the audit makes a single pass over the log) and
then lists its violations as sentences. `run` folds a finite log, which makes every
check a pure function of its records for the unit tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

from schemas.envelope import EventEnvelope
from schemas.positions import Positioned

# A broken log can break the same rule thousands of times; the first ones tell the story.
MAX_LISTED = 50


class Check(Protocol):
    name: str
    invariant: int | None

    def observe(self, partition: int, position: int, env: EventEnvelope) -> None: ...

    def violations(self) -> list[str]: ...


C = TypeVar("C", bound=Check)


def run(check: C, records: Iterable[Positioned]) -> C:
    for partition, position, env in records:
        check.observe(partition, position, env)
    return check


class Problems:
    """A capped list of violation sentences that still counts what it leaves out."""

    def __init__(self) -> None:
        self.listed: list[str] = []
        self.count = 0

    def add(self, message: str) -> None:
        self.count += 1
        if len(self.listed) < MAX_LISTED:
            self.listed.append(message)

    def extend(self, messages: Iterable[str]) -> None:
        for message in messages:
            self.add(message)

    def sentences(self) -> list[str]:
        more = self.count - len(self.listed)
        return self.listed + ([f"... and {more} more"] if more else [])
