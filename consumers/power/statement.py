"""A worker's statement: pay, work time and unpaid time per requester and overall.

Pure: the worker's power-view hashes and its ledger account in, a JSON-ready dict out.
The overall figures are the power report's for that worker (consumers/power/snapshot.Worker:
work_ms, unpaid_ms, pending_ms, paid), split by requester and by cause. Definitions:
docs/METRICS.md, "The worker's statement".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from consumers.power.stats import hourly_wage
from schemas.ids import requester_of_task

COUNTS = ("submitted", "approved", "rejected", "overturned", "released", "expired")
TIMES = ("work_ms", "released_ms", "expired_ms", "rejected_ms", "pending_ms")
# The ledger account's fields (consumers/views/ledger.py), as the statement names them.
MONEY = {"earned": "earned", "credited": "credited", "paid_out": "paid", "balance": "balance"}


def _row(requester: str, n: Mapping[str, int], paid: int, bonus: int) -> dict[str, Any]:
    unpaid = n["released_ms"] + n["expired_ms"] + n["rejected_ms"]
    return {
        "requester_id": requester,
        "pay": paid - bonus,  # rewards, approved or overturned
        "bonuses": bonus,
        "paid": paid,
        "work_ms": n["work_ms"],
        "unpaid_ms": unpaid,
        # pending: submitted, not reviewed yet; unpaid so far, not counted in unpaid_ms
        "unpaid_by_cause_ms": {"rejected": n["rejected_ms"], "released": n["released_ms"],
                               "expired": n["expired_ms"], "pending": n["pending_ms"]},
        "pending_ms": n["pending_ms"],
        "effective_hourly_wage": hourly_wage(paid, n["work_ms"]) if n["work_ms"] > 0 else None,
        **{name: n[name] for name in COUNTS},
    }


def statement(worker_id: str, currency: str, by: Mapping[str, str], work: Mapping[str, str],
              rejected: Iterable[str], paid_by: Mapping[str, str],
              account: Mapping[str, str]) -> dict[str, Any]:  # fmt: skip
    """From the power view's `by:{w}`, `work:{w}`, `rejected:{w}`, `paid_by:{w}` and the
    ledger's `worker:{w}:{currency}`; money in `currency`, times across currencies."""
    sums: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS + TIMES, 0))
    bonuses: dict[str, int] = defaultdict(int)
    bonus_field = f"bonus:{currency}"
    for field, value in by.items():
        requester, _, name = field.partition(":")
        if name == bonus_field:
            bonuses[requester] += int(value)
        elif name in COUNTS or name in TIMES:
            sums[requester][name] += int(value)
    refused = set(rejected)
    for ref, ms in work.items():  # submissions not paid: rejected, or awaiting review
        requester = requester_of_task(ref.partition("|")[0])
        sums[requester]["rejected_ms" if ref in refused else "pending_ms"] += int(ms)
    paid: dict[str, int] = defaultdict(int)
    suffix = f":{currency}"
    for field, value in paid_by.items():
        if field.endswith(suffix):
            paid[field[: -len(suffix)]] += int(value)
    # a requester that paid has a row, if only for a bonus
    rows = [_row(r, sums[r], paid[r], bonuses[r]) for r in sorted({*sums, *paid, *bonuses})]
    total = dict.fromkeys(COUNTS + TIMES, 0)
    for r in sums.values():
        for name in total:
            total[name] += r[name]
    overall = _row("", total, sum(paid.values()), sum(bonuses.values()))
    del overall["requester_id"]
    money = {name: int(account.get(field, 0)) for name, field in MONEY.items()}
    money["owed"] = money["earned"] - money["credited"]  # approved, not in the wallet yet
    money["pending"] = money["earned"] - money["paid_out"]  # earned, not paid out yet
    return {"worker_id": worker_id, "currency": currency, "overall": overall,
            "money": money, "by_requester": rows}  # fmt: skip
