"""The worker wallet: what the platform owes each worker, per currency, and what it paid out.

It lives on the worker's own partition; credits arrive as CreditWorker commands that the
processor derives from approvals, bonuses and overturns on the requester's partition.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from broker.domain.context import PLATFORM, Context, require_role
from broker.domain.errors import Refused
from broker.domain.growset import GrowSet
from schemas import events as ev
from schemas.commands import CreditWorker, IssuePayout


@dataclasses.dataclass(frozen=True, slots=True)
class Wallet:
    worker_id: str
    balance: Mapping[str, int] = dataclasses.field(default_factory=dict)
    credited: GrowSet = dataclasses.field(default_factory=GrowSet)
    payouts: GrowSet = dataclasses.field(default_factory=GrowSet)
    version: int = 0


def decide_credit(wallet: Wallet, cmd: CreditWorker, ctx: Context) -> list[Any]:
    # Only the processor mints credits, from events it decided itself.
    require_role(ctx, frozenset({"system"}))
    if cmd.source_event_id in wallet.credited:
        raise Refused("duplicate_credit", f"{cmd.source_event_id!r} was already credited")
    return [
        ev.WorkerCredited(
            cmd.worker_id,
            cmd.source_event_id,
            cmd.requester_id,
            cmd.task_id,
            cmd.amount,
            cmd.currency,
        )
    ]


def decide_payout(wallet: Wallet, cmd: IssuePayout, ctx: Context) -> list[Any]:
    require_role(ctx, PLATFORM)
    if cmd.payout_id in wallet.payouts:
        raise Refused("duplicate_payout", f"payout {cmd.payout_id!r} was already issued")
    balance = wallet.balance.get(cmd.currency, 0)
    if cmd.amount > balance:
        raise Refused("insufficient_balance", f"payout {cmd.amount} > balance {balance}")
    return [ev.PayoutIssued(cmd.worker_id, cmd.payout_id, cmd.amount, cmd.currency)]


def _plus(balance: Mapping[str, int], currency: str, delta: int) -> dict[str, int]:
    return {**balance, currency: balance.get(currency, 0) + delta}


def evolve_wallet(wallet: Wallet, event: Any) -> Wallet:
    if isinstance(event, ev.WorkerCredited):
        return dataclasses.replace(
            wallet,
            balance=_plus(wallet.balance, event.currency, event.amount),
            credited=wallet.credited.add(event.source_event_id),
            version=wallet.version + 1,
        )
    if isinstance(event, ev.PayoutIssued):
        return dataclasses.replace(
            wallet,
            balance=_plus(wallet.balance, event.currency, -event.amount),
            payouts=wallet.payouts.add(event.payout_id),
            version=wallet.version + 1,
        )
    raise ValueError(f"{type(event).__name__} is not a wallet event")


WALLET_EVENTS = frozenset({ev.WorkerCredited, ev.PayoutIssued})
