"""The pure dispatcher the command processor calls: one partition's aggregates in memory.

`decide` never applies its events: the processor applies them after writing them, so the
live path and a rebuild from the log go through the same `apply`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from broker.domain import claiming, invariants, reviewing
from broker.domain.account import (
    ACCOUNT_EVENTS,
    MONEY_EVENTS,
    Account,
    decide_deposit,
    decide_post,
    evolve_account,
)
from broker.domain.context import Context
from broker.domain.errors import Refused
from broker.domain.policy import Policy
from broker.domain.stamping import aggregate_of, credits, result_of, stamp
from broker.domain.suites import SUITE_DECIDERS
from broker.domain.task import TASK_COMMANDS, TASK_EVENTS, decide_task, evolve_task
from broker.domain.task_table import TaskTable
from broker.domain.wallet import WALLET_EVENTS, Wallet, decide_credit, decide_payout, evolve_wallet
from schemas import commands as cmds
from schemas.envelope import CommandEnvelope, EventEnvelope, Reply
from schemas.ids import requester_of_task

__all__ = ["Decision", "Shard", "aggregate_of"]
S = TypeVar("S")


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    events: tuple[EventEnvelope, ...]
    outbox: tuple[CommandEnvelope, ...]
    reply: Reply


def _existing(states: dict[str, S], key: str, what: str) -> S:
    state = states.get(key)
    if state is None:
        raise Refused("not_found", f"no {what} {key!r}")
    return state


class Shard:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.tasks: TaskTable = TaskTable()
        self.wallets: dict[str, Wallet] = {}

    def version_of(self, aggregate_id: str) -> int:
        kind, _, key = aggregate_id.partition(":")
        states: dict[str, Any] = {
            "requester": self.accounts,
            "task": self.tasks,
            "worker": self.wallets,
        }[kind]
        state = states.get(key)
        return 0 if state is None else state.version

    def apply(self, env: EventEnvelope) -> bool:
        """Fold one event; False for an event at or below its aggregate's version (a repeat)."""
        current = self.version_of(env.aggregate_id)
        if env.sequence <= current:
            return False
        if env.sequence != current + 1:
            raise ValueError(f"{env.aggregate_id}: sequence {env.sequence} after {current}")
        event, kind = env.event, type(env.event)
        if kind in TASK_EVENTS:
            self.tasks[event.task_id] = evolve_task(self.tasks.get(event.task_id), event)
        if kind in ACCOUNT_EVENTS or kind in MONEY_EVENTS:
            # not every money event names its requester; its task id always does
            rid = event.requester_id if kind in ACCOUNT_EVENTS else requester_of_task(event.task_id)
            self.accounts[rid] = evolve_account(self.accounts.get(rid) or Account(rid), event)
        if kind in WALLET_EVENTS:
            wid = event.worker_id
            self.wallets[wid] = evolve_wallet(self.wallets.get(wid) or Wallet(wid), event)
        return True

    def decide(self, cmd: CommandEnvelope, now: int, policy: Policy) -> Decision:
        ctx = Context(now, cmd.command_id, cmd.actor_id, cmd.actor_role, policy)
        try:
            suite = SUITE_DECIDERS.get(type(cmd.command))
            if type(cmd.command) is cmds.ReviewSubmissions:
                events, outcomes = self._review(cmd.command, ctx)
                result = reviewing.review_result(cmd.command, outcomes)
            elif suite is not None:  # one worker's many items on one requester's tasks
                account = self.accounts.get(cmd.command.requester_id)
                events, result = suite(self.tasks, account, cmd.command, ctx)
            else:
                events = self._decide(cmd.command, ctx)
                result = result_of(events)
        except Refused as refusal:
            reply = Reply(cmd.command_id, False, refusal.code, refusal.message, decided_at=now,
                          fingerprint=cmd.fingerprint)
            return Decision((), (), reply)
        envelopes = stamp(events, cmd, now, self.version_of)
        ids = tuple(e.event_id for e in envelopes)
        reply = Reply(cmd.command_id, True, event_ids=ids, result=result, decided_at=now,
                      fingerprint=cmd.fingerprint)
        return Decision(envelopes, credits(envelopes), reply)

    def _review(
        self, command: cmds.ReviewSubmissions, ctx: Context
    ) -> tuple[list[Any], list[dict[str, Any]]]:
        account = self.accounts.get(command.requester_id)
        return reviewing.decide_reviews(self.tasks, account, command, ctx)

    def _decide(self, command: Any, ctx: Context) -> list[Any]:
        kind = type(command)
        if kind is cmds.ClaimTask:
            account = self.accounts.get(requester_of_task(command.task_id))
            return claiming.decide_claim_first(self.tasks, account, command, ctx)
        if kind in TASK_COMMANDS:
            task = _existing(self.tasks, command.task_id, "task")
            account = _existing(self.accounts, requester_of_task(task.task_id), "account")
            return decide_task(task, account, command, ctx)
        if kind is cmds.DepositFunds:
            rid = command.requester_id
            return decide_deposit(self.accounts.get(rid) or Account(rid), command, ctx)
        if kind is cmds.PostTasks:
            account = _existing(self.accounts, command.requester_id, "account")
            return decide_post(account, command, ctx)
        if kind is cmds.CreditWorker:
            wid = command.worker_id
            return decide_credit(self.wallets.get(wid) or Wallet(wid), command, ctx)
        if kind is cmds.IssuePayout:
            return decide_payout(_existing(self.wallets, command.worker_id, "wallet"), command, ctx)
        raise Refused("unknown_command", f"no handler for {kind.__name__}")

    def check_invariants(self) -> list[str]:
        """Violations of the shard's invariants (empty when all hold)."""
        return invariants.check(self.accounts, self.tasks, self.wallets)
