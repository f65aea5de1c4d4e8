"""Per aggregate, sequences run 1..n with no gap or repeat, on a single partition.

One partition per aggregate is what makes its processor the single writer; an event
whose aggregate id does not match its content would be folded into the wrong state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from audit.checks import Problems, run
from broker.domain.stamping import aggregate_of
from schemas.envelope import EventEnvelope
from schemas.positions import Positioned, describe


class Sequences:
    name = "sequences"
    invariant = 6

    def __init__(self) -> None:
        self.last: dict[str, tuple[int, int]] = {}  # aggregate -> (partition, sequence)
        self.problems = Problems()

    def observe(self, partition: int, position: int, env: EventEnvelope) -> None:
        agg, seq = env.aggregate_id, env.sequence
        home, last = self.last.get(agg, (partition, 0))
        if seq != last + 1:
            kind = "gap" if seq > last + 1 else "repeat"
            where = describe(partition, position)
            self.problems.add(f"{agg} at {where}: sequence {seq} after {last} ({kind})")
        if home != partition:
            where = describe(partition, position)
            self.problems.add(f"{agg} at {where}: also written on partition {home}")
        try:
            owner = aggregate_of(env.event)
        except ValueError as exc:
            owner = str(exc)
        if owner != agg:
            where = describe(partition, position)
            self.problems.add(f"{agg} at {where}: a {env.type} belongs to {owner}")
        self.last[agg] = (home, seq if seq > last else last)

    def counts(self) -> dict[str, int]:
        """Aggregates seen, per kind (requester, task, worker)."""
        return dict(sorted(Counter(agg.partition(":")[0] for agg in self.last).items()))

    def violations(self) -> list[str]:
        return self.problems.sentences()


def check(records: Iterable[Positioned]) -> list[str]:
    return run(Sequences(), records).violations()
