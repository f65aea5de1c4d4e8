"""Per aggregate, sequences run 1..n with no gap or repeat, on a single partition.

One partition per aggregate is what makes its processor the single writer; an event
whose aggregate id does not match its content would be folded into the wrong state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from broker.domain.stamping import aggregate_of
from consumers.audit.checks import Problems, Record, run
from schemas.envelope import EventEnvelope


class Sequences:
    name = "sequences"
    invariant = 6

    def __init__(self) -> None:
        self.last: dict[str, tuple[int, int]] = {}  # aggregate -> (partition, sequence)
        self.problems = Problems()

    def observe(self, partition: int, offset: int, env: EventEnvelope) -> None:
        agg, seq = env.aggregate_id, env.sequence
        home, last = self.last.get(agg, (partition, 0))
        if seq != last + 1:
            kind = "gap" if seq > last + 1 else "repeat"
            self.problems.add(
                f"{agg} at {partition}/{offset}: sequence {seq} after {last} ({kind})"
            )
        if home != partition:
            self.problems.add(f"{agg} at {partition}/{offset}: also written on partition {home}")
        try:
            owner = aggregate_of(env.event)
        except ValueError as exc:
            owner = str(exc)
        if owner != agg:
            self.problems.add(f"{agg} at {partition}/{offset}: a {env.type} belongs to {owner}")
        self.last[agg] = (home, seq if seq > last else last)

    def counts(self) -> dict[str, int]:
        """Aggregates seen, per kind (requester, task, worker)."""
        return dict(sorted(Counter(agg.partition(":")[0] for agg in self.last).items()))

    def violations(self) -> list[str]:
        return self.problems.sentences()


def check(records: Iterable[Record]) -> list[str]:
    return run(Sequences(), records).violations()
