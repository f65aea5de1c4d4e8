"""Invariants of one shard's aggregates, for tests and the audit: a list of violations."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from broker.domain.account import Account
from broker.domain.task_state import Task
from broker.domain.wallet import Wallet


def _task_problems(tasks: Iterable[Task]) -> list[str]:
    return [
        f"task {t.task_id}: {t.used} used slots > {t.assignments} assignments"
        for t in tasks
        if t.used > t.assignments
    ]


def _escrow_problems(accounts: Mapping[str, Account], tasks: Iterable[Task]) -> list[str]:
    held: dict[tuple[str, str], int] = defaultdict(int)
    for t in tasks:
        held[(t.requester_id, t.currency)] += t.held_escrow()
    recorded = {(a.requester_id, c): v for a in accounts.values() for c, v in a.escrow.items()}
    problems = []
    for requester, currency in sorted(held.keys() | recorded.keys()):
        escrow = recorded.get((requester, currency), 0)
        if escrow < 0:
            problems.append(f"account {requester}: negative escrow {escrow} {currency}")
        if escrow != held[(requester, currency)]:
            problems.append(
                f"account {requester}: escrow {escrow} {currency} but its tasks hold "
                f"{held[(requester, currency)]}"
            )
    return problems


def _wallet_problems(wallets: Iterable[Wallet]) -> list[str]:
    return [
        f"wallet {w.worker_id}: negative balance {v} {c}"
        for w in wallets
        for c, v in w.balance.items()
        if v < 0
    ]


def check(
    accounts: Mapping[str, Account], tasks: Mapping[str, Task], wallets: Mapping[str, Wallet]
) -> list[str]:
    return (
        _task_problems(tasks.values())
        + _escrow_problems(accounts, tasks.values())
        + _wallet_problems(wallets.values())
    )
