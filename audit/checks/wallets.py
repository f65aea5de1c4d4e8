"""Invariant 3, paying out: no payout exceeds the wallet's balance at that point of the log.

A wallet's events all sit on its worker's partition, in order, so the running balance
per (worker, currency) is exactly what the wallet decided against. Credits are never
negative (a schema rule), so such a payout is also the only way a wallet goes below zero.
"""

from __future__ import annotations

from collections.abc import Iterable

from audit.checks import Problems, run
from schemas import events as ev
from schemas.envelope import EventEnvelope
from schemas.positions import Positioned, describe


class Wallets:
    name = "wallets"
    invariant = 3

    def __init__(self) -> None:
        self.balance: dict[tuple[str, str], int] = {}
        self.problems = Problems()

    def observe(self, partition: int, position: int, env: EventEnvelope) -> None:
        e, kind = env.event, type(env.event)
        if kind is ev.WorkerCredited:
            key = (e.worker_id, e.currency)
            self.balance[key] = self.balance.get(key, 0) + e.amount
        elif kind is ev.PayoutIssued:
            key = (e.worker_id, e.currency)
            before = self.balance.get(key, 0)
            self.balance[key] = before - e.amount
            if e.amount > before:
                self.problems.add(
                    f"payout {e.payout_id} at {describe(partition, position)}: "
                    f"{e.amount} {e.currency} "
                    f"exceeds {e.worker_id}'s balance {before}"
                )

    def violations(self) -> list[str]:
        return self.problems.sentences()


def check(records: Iterable[Positioned]) -> list[str]:
    return run(Wallets(), records).violations()
