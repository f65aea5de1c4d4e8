"""Invariant 3, crediting: every approval, bonus and overturn reaches the worker's wallet
exactly once, no credit exists without its source, and a rejected submission is never
paid unless overturned (and then once).

A source event and its credit sit on different partitions, joined by the transactional
outbox: between the two the credit is in flight. An uncredited source younger than
`grace_ms` at the end of the log is therefore `pending`, not a violation (unless
`strict`); an older one is a lost credit. The grace is in the log's own time, so on a
scaled clock (a simulation) it has to scale with it: the CLI multiplies GRACE_MS by the
clock speed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

from audit.checks import Problems, run
from schemas import events as ev
from schemas.envelope import EventEnvelope
from schemas.positions import Positioned, describe

GRACE_MS = 60_000  # the outbox delivers in milliseconds; a minute is far beyond a hiccup
APPROVED, REJECTED, OVERTURNED = "approved", "rejected", "overturned"


class Owed(NamedTuple):
    """What a paying event owes, and to whom."""

    event_id: str
    worker_id: str
    amount: int
    currency: str
    occurred_at: int


class Credits:
    name = "credits"
    invariant = 3

    def __init__(self, grace_ms: int = GRACE_MS, strict: bool = False, end_ms: int | None = None):
        self.grace_ms, self.strict, self.end_ms = grace_ms, strict, end_ms
        self.latest = 0
        self.owed: dict[str, Owed] = {}
        self.credits: dict[str, list[Owed]] = {}
        self.reviews: dict[tuple[str, str], str] = {}
        self.problems = Problems()

    def observe(self, partition: int, position: int, env: EventEnvelope) -> None:
        if env.occurred_at > self.latest:
            self.latest = env.occurred_at
        e, kind = env.event, type(env.event)
        if kind is ev.WorkerCredited:
            got = Owed(e.source_event_id, e.worker_id, e.amount, e.currency, env.occurred_at)
            self.credits.setdefault(e.source_event_id, []).append(got)
            return
        field = ev.OWED_FIELD.get(kind)
        if field is not None:
            amount = getattr(e, field)
            self.owed[env.event_id] = Owed(
                env.event_id, e.worker_id, amount, e.currency, env.occurred_at
            )
        if kind in (ev.SubmissionApproved, ev.SubmissionRejected, ev.RejectionOverturned):
            self._review(describe(partition, position), e)

    def _review(self, where: str, e: ev.SubmissionApproved | ev.SubmissionRejected) -> None:
        key = (e.task_id, e.submission_id)
        before = self.reviews.get(key)
        name = f"submission {e.task_id}/{e.submission_id} at {where}"
        if isinstance(e, ev.SubmissionApproved):
            now = APPROVED
            if before == REJECTED:
                self.problems.add(f"{name}: rejected, then paid without an overturn")
            elif before is not None:
                self.problems.add(f"{name}: approved after it was {before} (paid twice)")
        elif isinstance(e, ev.SubmissionRejected):
            now = REJECTED
            if before is not None:
                self.problems.add(f"{name}: rejected after it was {before}")
        else:
            now = OVERTURNED
            if before != REJECTED:
                self.problems.add(f"{name}: overturned but it was {before or 'never reviewed'}")
        self.reviews[key] = now

    # --- at the end of the log ------------------------------------------------------------

    def uncredited(self) -> list[Owed]:
        return [o for event_id, o in self.owed.items() if event_id not in self.credits]

    def pending(self) -> list[Owed]:
        """Uncredited sources still inside the grace window (in flight through the outbox)."""
        if self.strict:
            return []
        end = self.latest if self.end_ms is None else self.end_ms
        return [o for o in self.uncredited() if o.occurred_at >= end - self.grace_ms]

    def uncredited_amounts(self) -> dict[str, int]:
        """Per currency, what approvals owe that no wallet has received yet."""
        sums: Counter[str] = Counter()
        for o in self.uncredited():
            sums[o.currency] += o.amount
        return dict(sums)

    def violations(self) -> list[str]:
        found = Problems()
        found.extend(self.problems.sentences())
        in_flight = {o.event_id for o in self.pending()}
        end = self.latest if self.end_ms is None else self.end_ms
        for o in self.uncredited():
            if o.event_id not in in_flight:
                age = end - o.occurred_at
                found.add(f"{o.event_id} owes {o.amount} {o.currency} to {o.worker_id}: "
                          f"not credited {age} ms later")  # fmt: skip
        for source, got in self.credits.items():
            owed = self.owed.get(source)
            if owed is None:
                found.add(f"{len(got)} credit(s) to {got[0].worker_id} without a source "
                          f"event {source!r}")  # fmt: skip
                continue
            if len(got) > 1:
                found.add(f"{source} credited {len(got)} times")
            for credit in got:
                if credit[1:4] != owed[1:4]:
                    found.add(f"{source} owes {owed.amount} {owed.currency} to {owed.worker_id} "
                              f"but was credited {credit.amount} {credit.currency} to "
                              f"{credit.worker_id}")  # fmt: skip
        return found.sentences()


def check(
    records: Iterable[Positioned], grace_ms: int = GRACE_MS, strict: bool = False
) -> list[str]:
    return run(Credits(grace_ms, strict), records).violations()
