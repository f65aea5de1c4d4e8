"""The requester account: deposits, available balance and escrow, per currency.

The account and all its tasks share one partition (a task id starts with its requester
id), so this fold also takes the task events that move the requester's money. An
operator's overturn is binding even when it drives `available` below zero: the worker was
wronged and must be paid; the account then refuses new postings (`account_in_debt`)
until a deposit brings every currency back to zero or above.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from broker.domain.context import PLATFORM, Context, require_self
from broker.domain.errors import Refused
from broker.domain.growset import GrowSet
from broker.domain.policy import below_floor, fee_for, implied_hourly
from schemas import events as ev
from schemas.commands import DepositFunds, PostTasks, TaskSpec
from schemas.ids import make_task_id
from schemas.money import MAX_AMOUNT


@dataclasses.dataclass(frozen=True, slots=True)
class Account:
    requester_id: str
    available: Mapping[str, int] = dataclasses.field(default_factory=dict)
    escrow: Mapping[str, int] = dataclasses.field(default_factory=dict)
    batches: GrowSet = dataclasses.field(default_factory=GrowSet)
    version: int = 0

    def in_debt(self) -> bool:
        return any(v < 0 for v in self.available.values())


def _plus(balances: Mapping[str, int], currency: str, delta: int) -> dict[str, int]:
    updated = dict(balances)
    updated[currency] = updated.get(currency, 0) + delta
    return updated


# --- decisions ------------------------------------------------------------------------


def decide_deposit(account: Account, cmd: DepositFunds, ctx: Context) -> list[Any]:
    # Money arrives from the requester itself or from a payment integration.
    if ctx.actor_role not in PLATFORM:
        require_self(ctx, "requester", cmd.requester_id)
    return [ev.FundsDeposited(cmd.requester_id, cmd.amount, cmd.currency)]


def decide_post(account: Account, cmd: PostTasks, ctx: Context) -> list[Any]:
    require_self(ctx, "requester", cmd.requester_id)
    if len(cmd.tasks) > ctx.policy.max_batch_tasks:
        raise Refused("batch_too_large", f"at most {ctx.policy.max_batch_tasks} tasks per batch")
    if cmd.batch_id in account.batches:
        raise Refused("duplicate_batch", f"batch {cmd.batch_id!r} was already posted")
    if account.in_debt():
        raise Refused("account_in_debt", "a balance is negative: deposit before posting")
    tasks = [_task_posted(cmd, i, spec, ctx) for i, spec in enumerate(cmd.tasks)]
    currency = cmd.tasks[0].currency
    escrow = sum((t.reward + t.fee) * t.assignments for t in tasks)
    available = account.available.get(currency, 0)
    if available < escrow:
        raise Refused("insufficient_funds", f"escrow {escrow} > available {available} {currency}")
    if escrow > MAX_AMOUNT:
        raise Refused("batch_too_large", f"escrow {escrow} exceeds the largest amount")
    batch = ev.BatchPosted(cmd.requester_id, cmd.batch_id, len(tasks), escrow, currency)
    return [batch, *tasks]


def _task_posted(cmd: PostTasks, index: int, spec: TaskSpec, ctx: Context) -> ev.TaskPosted:
    low = below_floor(ctx.policy, spec.reward, spec.estimated_seconds, spec.currency)
    if low and ctx.policy.wage_floor_mode == "refuse":
        hourly = implied_hourly(spec.reward, spec.estimated_seconds)
        raise Refused("below_wage_floor", f"task {index} pays {hourly} micro-units per hour")
    return ev.TaskPosted(
        task_id=make_task_id(cmd.requester_id, cmd.batch_id, index),
        requester_id=cmd.requester_id,
        batch_id=cmd.batch_id,
        kind=spec.kind,
        title=spec.title,
        reward=spec.reward,
        fee=fee_for(ctx.policy, spec.reward, spec.assignments),
        currency=spec.currency,
        assignments=spec.assignments,
        lease_seconds=spec.lease_seconds,
        expires_at=ctx.now + spec.lifetime_seconds * 1000,
        auto_approve_seconds=spec.auto_approve_seconds,
        estimated_seconds=spec.estimated_seconds,
        priority=spec.priority,
        qualifications=spec.qualifications,
        payload=spec.payload,
        payload_ref=spec.payload_ref,
        below_wage_floor=low,
    )


# --- evolution ------------------------------------------------------------------------


def _deposited(a: Account, e: ev.FundsDeposited) -> Account:
    available = _plus(a.available, e.currency, e.amount)
    return dataclasses.replace(a, available=available, version=a.version + 1)


def _batch_posted(a: Account, e: ev.BatchPosted) -> Account:
    return dataclasses.replace(
        a,
        available=_plus(a.available, e.currency, -e.escrow),
        escrow=_plus(a.escrow, e.currency, e.escrow),
        batches=a.batches.add(e.batch_id),
        version=a.version + 1,
    )


def _approved(a: Account, e: ev.SubmissionApproved) -> Account:
    # reward goes to the worker's wallet, fee to the platform: both leave escrow
    return dataclasses.replace(a, escrow=_plus(a.escrow, e.currency, -(e.reward + e.fee)))


def _released(a: Account, e: Any) -> Account:
    if not e.released_escrow:
        return a
    return dataclasses.replace(
        a,
        escrow=_plus(a.escrow, e.currency, -e.released_escrow),
        available=_plus(a.available, e.currency, e.released_escrow),
    )


def _bonus(a: Account, e: ev.BonusGranted) -> Account:
    return dataclasses.replace(a, available=_plus(a.available, e.currency, -(e.amount + e.fee)))


def _overturned(a: Account, e: ev.RejectionOverturned) -> Account:
    # binding even below zero (see module docstring)
    return dataclasses.replace(a, available=_plus(a.available, e.currency, -(e.reward + e.fee)))


_EVOLVE: dict[type, Callable[[Account, Any], Account]] = {
    ev.FundsDeposited: _deposited,
    ev.BatchPosted: _batch_posted,
    ev.SubmissionApproved: _approved,
    ev.SubmissionRejected: _released,
    ev.ClaimReleased: _released,
    ev.ClaimExpired: _released,
    ev.TaskCancelled: _released,
    ev.TaskExpired: _released,
    ev.BonusGranted: _bonus,
    ev.RejectionOverturned: _overturned,
}
ACCOUNT_EVENTS = (ev.FundsDeposited, ev.BatchPosted)
MONEY_EVENTS = frozenset(_EVOLVE) - frozenset(ACCOUNT_EVENTS)


def evolve_account(account: Account, event: Any) -> Account:
    """Fold one event; events that move no requester money leave the account unchanged."""
    handler = _EVOLVE.get(type(event))
    return account if handler is None else handler(account, event)
