"""Event ids are unique across the whole log (they derive from command ids: a repeat is a
command decided twice, or an event written twice)."""

from __future__ import annotations

from collections.abc import Iterable

from audit.checks import Problems, run
from schemas.envelope import EventEnvelope
from schemas.positions import Positioned, describe


class UniqueIds:
    name = "ids"
    invariant = 6

    def __init__(self) -> None:
        self.seen: dict[str, tuple[int, int]] = {}
        self.problems = Problems()

    def observe(self, partition: int, position: int, env: EventEnvelope) -> None:
        first = self.seen.get(env.event_id)
        if first is None:
            self.seen[env.event_id] = (partition, position)
        else:
            self.problems.add(
                f"event id {env.event_id!r} at {describe(partition, position)} repeats "
                f"{describe(*first)}"
            )

    def violations(self) -> list[str]:
        return self.problems.sentences()


def check(records: Iterable[Positioned]) -> list[str]:
    return run(UniqueIds(), records).violations()
