"""Invariant 1 on the write side's own state: rebuild every shard with `Shard.apply`.

One Shard per partition, as the processors hold them. After each task event the task is
checked at once (claims never exceed assignments at ANY offset, not only at the end);
the escrow and wallet invariants (`Shard.check_invariants`) are checked at the end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from audit.checks import Problems, run
from broker.domain.shard import Shard
from broker.domain.task_state import TASK_EVENTS
from schemas.envelope import EventEnvelope
from schemas.positions import Positioned, describe


class Aggregates:
    name = "aggregates"
    invariant = 1

    def __init__(self) -> None:
        self.shards: dict[int, Shard] = {}
        self.problems = Problems()

    def observe(self, partition: int, position: int, env: EventEnvelope) -> None:
        shard = self.shards.get(partition)
        if shard is None:
            shard = self.shards[partition] = Shard()
        try:
            applied = shard.apply(env)
        except Exception as exc:  # a broken log must be reported, not stop the audit
            where = describe(partition, position)
            self.problems.add(f"{env.aggregate_id} at {where}: cannot apply: {exc}")
            return
        if applied and type(env.event) in TASK_EVENTS:
            task = shard.tasks[env.event.task_id]
            if task.used > task.assignments:
                self.problems.add(
                    f"task {task.task_id} at {describe(partition, position)}: {task.used} "
                    f"claims and submissions > {task.assignments} assignments"
                )

    def violations(self) -> list[str]:
        final = Problems()
        final.extend(self.problems.sentences())
        for partition, shard in sorted(self.shards.items()):
            final.extend(f"partition {partition}: {v}" for v in shard.check_invariants())
        return final.sentences()

    def held(self) -> dict[str, dict[str, int]]:
        """Per currency, money the write side holds: available, escrow, worker_balances."""
        sums: dict[str, Counter[str]] = {}
        for shard in self.shards.values():
            for account in shard.accounts.values():
                for currency, amount in account.available.items():
                    sums.setdefault(currency, Counter())["available"] += amount
                for currency, amount in account.escrow.items():
                    sums.setdefault(currency, Counter())["escrow"] += amount
            for wallet in shard.wallets.values():
                for currency, amount in wallet.balance.items():
                    sums.setdefault(currency, Counter())["worker_balances"] += amount
        return {currency: dict(s) for currency, s in sorted(sums.items())}


def check(records: Iterable[Positioned]) -> list[str]:
    return run(Aggregates(), records).violations()
