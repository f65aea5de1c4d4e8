"""Event ids are unique across the whole log (they derive from command ids: a repeat is a
command decided twice, or an event written twice)."""

from __future__ import annotations

from collections.abc import Iterable

from consumers.audit.checks import Problems, Record, run
from schemas.envelope import EventEnvelope
from schemas.positions import describe


class UniqueIds:
    name = "ids"
    invariant = 6

    def __init__(self) -> None:
        self.seen: dict[str, tuple[int, int]] = {}
        self.problems = Problems()

    def observe(self, partition: int, offset: int, env: EventEnvelope) -> None:
        first = self.seen.get(env.event_id)
        if first is None:
            self.seen[env.event_id] = (partition, offset)
        else:
            self.problems.add(
                f"event id {env.event_id!r} at {describe(partition, offset)} repeats "
                f"{describe(*first)}"
            )

    def violations(self) -> list[str]:
        return self.problems.sentences()


def check(records: Iterable[Record]) -> list[str]:
    return run(UniqueIds(), records).violations()
