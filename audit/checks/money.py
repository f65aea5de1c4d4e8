"""Invariant 2: money is conserved per currency, to the micro-unit, and two folds agree.

Every event moves money in balanced pairs, so conservation in the ledger view alone
cannot see a tampered amount. Two cross-checks can: the ledger's owed term (approved,
not yet in a wallet) must equal what the uncredited approvals actually owe, and the
ledger's balances must equal those of the write side's own aggregates.
"""

from __future__ import annotations

from collections.abc import Mapping

from consumers.views.ledger import violations as ledger_violations

# ledger_totals field -> what the write side calls it (Aggregates.held)
_HELD = ("available", "escrow", "worker_balances")


def check(
    totals: Mapping[str, Mapping[str, int]],
    uncredited: Mapping[str, int],
    held: Mapping[str, Mapping[str, int]],
) -> list[str]:
    """`totals` from consumers.views.ledger.ledger_totals on the replayed views, `uncredited`
    per currency from the credits check, `held` per currency from the aggregates check."""
    found = ledger_violations({c: dict(t) for c, t in totals.items()})
    for currency in sorted(set(totals) | set(uncredited) | set(held)):
        t, h = totals.get(currency, {}), held.get(currency, {})
        owed, due = t.get("owed", 0), uncredited.get(currency, 0)
        if owed != due:
            found.append(f"{currency}: ledger owes workers {owed} but uncredited approvals "
                         f"owe {due}")  # fmt: skip
        for name in _HELD:
            if t.get(name, 0) != h.get(name, 0):
                found.append(f"{currency}: ledger {name} {t.get(name, 0)} != write side "
                             f"{h.get(name, 0)}")  # fmt: skip
    return found
