"""Payment ledger view: where every micro-unit sits, per account and currency.

Keys (all under `pw:ledger:`), every field an integer of micro-units:
- `worker:{worker}:{currency}`       earned, credited, paid, balance (= credited - paid);
- `requester:{requester}:{currency}` deposited, available, escrow, spent, fees;
- `platform:{currency}`              deposits, gross_spend, fees, payouts.

`earned` counts money owed on approval events (task partitions); `credited` counts it
reaching the wallet (worker partitions). Their difference is owed-not-yet-credited, so
money stays conserved even while the two partitions are at different offsets.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from consumers.stores.ops import Op, hincrby
from consumers.stores.store import Reader
from consumers.views.projection import Handlers
from schemas.events import (
    BatchPosted,
    BonusGranted,
    ClaimExpired,
    ClaimReleased,
    FundsDeposited,
    PayoutIssued,
    RejectionOverturned,
    SubmissionApproved,
    SubmissionRejected,
    TaskCancelled,
    TaskExpired,
    WorkerCredited,
)
from schemas.ids import requester_of_task

VIEW = "ledger"
PREFIX = "pw:ledger:"
CHUNK = 1_000


def worker_key(worker_id: str, currency: str) -> str:
    return f"pw:ledger:worker:{worker_id}:{currency}"


def requester_key(requester_id: str, currency: str) -> str:
    return f"pw:ledger:requester:{requester_id}:{currency}"


def platform_key(currency: str) -> str:
    return f"pw:ledger:platform:{currency}"


def _add(key: str, **amounts: int) -> list[Op]:
    # A zero move changes nothing; leaving it out keeps untouched accounts absent.
    return [hincrby(key, name, n) for name, n in amounts.items() if n]


_handlers = Handlers()
project = _handlers.projection()


@_handlers.on(FundsDeposited)
def _deposited(e: FundsDeposited, at: int) -> list[Op]:
    acct = requester_key(e.requester_id, e.currency)
    return _add(acct, deposited=e.amount, available=e.amount) + _add(
        platform_key(e.currency), deposits=e.amount
    )


@_handlers.on(BatchPosted)
def _reserved(e: BatchPosted, at: int) -> list[Op]:
    return _add(requester_key(e.requester_id, e.currency), available=-e.escrow, escrow=e.escrow)


@_handlers.on(ClaimReleased, ClaimExpired, SubmissionRejected, TaskCancelled, TaskExpired)
def _unreserved(e: Any, at: int) -> list[Op]:
    acct = requester_key(requester_of_task(e.task_id), e.currency)
    return _add(acct, escrow=-e.released_escrow, available=e.released_escrow)


def _paid(e: Any, amount: int, source: str) -> list[Op]:
    """Reward or bonus `amount` plus fee leave the requester's `source` (escrow or available)."""
    total = amount + e.fee
    return [
        *_add(
            requester_key(e.requester_id, e.currency), **{source: -total}, spent=total, fees=e.fee
        ),
        *_add(worker_key(e.worker_id, e.currency), earned=amount),
        *_add(platform_key(e.currency), gross_spend=total, fees=e.fee),
    ]


@_handlers.on(SubmissionApproved)
def _approved(e: SubmissionApproved, at: int) -> list[Op]:
    return _paid(e, e.reward, "escrow")


@_handlers.on(BonusGranted)
def _bonus(e: BonusGranted, at: int) -> list[Op]:
    return _paid(e, e.amount, "available")


@_handlers.on(RejectionOverturned)
def _overturned(e: RejectionOverturned, at: int) -> list[Op]:
    return _paid(e, e.reward, "available")


@_handlers.on(WorkerCredited)
def _credited(e: WorkerCredited, at: int) -> list[Op]:
    return _add(worker_key(e.worker_id, e.currency), credited=e.amount, balance=e.amount)


@_handlers.on(PayoutIssued)
def _payout(e: PayoutIssued, at: int) -> list[Op]:
    return _add(worker_key(e.worker_id, e.currency), paid=e.amount, balance=-e.amount) + _add(
        platform_key(e.currency), payouts=e.amount
    )


# --- conservation -------------------------------------------------------------------

_SUMS = {
    "worker": {"earned": "earned", "credited": "credited", "paid": "worker_paid",
               "balance": "worker_balances"},
    "requester": {"deposited": "requester_deposited", "available": "available",
                  "escrow": "escrow", "spent": "requester_spent", "fees": "requester_fees"},
    "platform": {"deposits": "deposits", "gross_spend": "gross_spend", "fees": "fees",
                 "payouts": "payouts"},
}  # fmt: skip


def ledger_totals(reader: Reader) -> dict[str, dict[str, int]]:
    """Per currency: account sums, platform figures and `imbalance` (0 when conserved).

    deposits == available + escrow + owed + worker_balances + payouts + fees, where owed =
    earned - credited (approved but not yet in a wallet). `negative_accounts` counts
    wallets or escrows below zero, which no valid log produces.
    """
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    for kind, fields in _SUMS.items():
        keys = reader.scan(f"{PREFIX}{kind}:")
        for i in range(0, len(keys), CHUNK):
            chunk = keys[i : i + CHUNK]
            for key, values in zip(chunk, reader.hgetall_many(chunk), strict=True):
                sums = totals[key.rsplit(":", 1)[1]]
                for field, total in fields.items():
                    amount = int(values.get(field, 0))
                    sums[total] += amount
                    # An operator's overturn may leave a requester's available balance in
                    # debt (docs/DESIGN.md); a wallet or an escrow below zero never.
                    if field in ("balance", "escrow") and amount < 0:
                        sums["negative_accounts"] += 1
    result = {}
    for currency, sums in sorted(totals.items()):
        sums["owed"] = sums["earned"] - sums["credited"]
        held = ("available", "escrow", "owed", "worker_balances", "payouts", "fees")
        sums["imbalance"] = sums["deposits"] - sum(sums[name] for name in held)
        result[currency] = dict(sorted(sums.items()))
    return result


def violations(totals: dict[str, dict[str, int]]) -> list[str]:
    """Human-readable breaches of money conservation; empty when the ledger is sound."""
    found = []
    pairs = [("deposits", "requester_deposited"), ("fees", "requester_fees"),
             ("payouts", "worker_paid"), ("gross_spend", "requester_spent")]  # fmt: skip
    for currency, t in totals.items():
        if t.get("imbalance", 0):
            found.append(f"{currency}: money not conserved, imbalance {t['imbalance']}")
        for platform, accounts in pairs:
            if t.get(platform, 0) != t.get(accounts, 0):
                found.append(f"{currency}: platform {platform} {t.get(platform, 0)} != "
                             f"sum of accounts {t.get(accounts, 0)}")  # fmt: skip
        if t.get("negative_accounts", 0):
            found.append(f"{currency}: {t['negative_accounts']} account(s) below zero")
    return found
