"""Given events / when command / then events or refusal: the domain tests' tiny vocabulary.

Event factories default to one consistent story: requester `acme` posts task TASK
(reward 50_000, fee 10_000, two assignments) at T0; workers `wanda` and `walt` claim it.
"""

from __future__ import annotations

from typing import Any

from broker.domain.policy import Policy
from broker.domain.shard import Decision, Shard, aggregate_of
from schemas import commands as c
from schemas import events as ev
from schemas.envelope import CommandEnvelope, EventEnvelope
from schemas.ids import make_claim_id

T0 = 1_000_000_000  # ms
R, R2 = "acme", "rival"
W, W2 = "wanda", "walt"
TASK = "acme:b1:0"
REWARD, FEE, UNIT = 50_000, 10_000, 60_000
LEASE_MS, AUTO_MS, LIFETIME_MS = 900_000, 3 * 86_400_000, 3_600_000
POLICY = Policy()

REQUESTER = ("requester", R)
SYSTEM = ("system", "timers")
OPERATOR = ("operator", "olga")


def worker(worker_id: str = W) -> tuple[str, str]:
    return ("worker", worker_id)


def given(*events: Any) -> Shard:
    """A shard that has applied `events` (lists are flattened), each on its aggregate."""
    shard = Shard()
    flat = [e for item in events for e in (item if isinstance(item, list) else [item])]
    for i, event in enumerate(flat):
        agg = aggregate_of(event)
        env = EventEnvelope(
            f"given/{i}",
            agg,
            shard.version_of(agg) + 1,
            0,
            "given",
            "given",
            "given",
            "test",
            event,
        )
        assert shard.apply(env)
    return shard


def when(
    shard: Shard,
    command: Any,
    actor: tuple[str, str] = REQUESTER,
    at: int = T0,
    policy: Policy = POLICY,
    command_id: str = "cmd-1",
) -> Decision:
    env = CommandEnvelope(command_id, actor[1], actor[0], "corr-1", command)
    return shard.decide(env, at, policy)


def run(
    shard: Shard,
    command: Any,
    actor: tuple[str, str] = REQUESTER,
    at: int = T0,
    command_id: str = "cmd-1",
    policy: Policy = POLICY,
) -> Decision:
    """Decide and apply, as the processor does; the command must be accepted."""
    decision = when(shard, command, actor, at, policy, command_id)
    assert decision.reply.accepted, decision.reply
    for env in decision.events:
        assert shard.apply(env)
    return decision


def events(decision: Decision) -> list[Any]:
    assert decision.reply.accepted, decision.reply
    return [env.event for env in decision.events]


def refused(decision: Decision, code: str) -> None:
    assert not decision.reply.accepted and decision.reply.code == code, decision.reply
    assert decision.events == () and decision.outbox == ()


# --- event factories ---------------------------------------------------------------------


def funds(amount: int = 1_000_000, requester: str = R, currency: str = "EUR") -> Any:
    return ev.FundsDeposited(requester, amount, currency)


def task_posted(**overrides: Any) -> ev.TaskPosted:
    fields: dict[str, Any] = dict(
        task_id=TASK,
        requester_id=R,
        batch_id="b1",
        kind="image_labelling",
        title="",
        reward=REWARD,
        fee=FEE,
        currency="EUR",
        assignments=2,
        lease_seconds=LEASE_MS // 1000,
        expires_at=T0 + LIFETIME_MS,
        auto_approve_seconds=AUTO_MS // 1000,
        estimated_seconds=30,
        priority=0,
        qualifications=(),
        payload={"url": "u"},
        payload_ref=None,
        below_wage_floor=False,
    )
    fields.update(overrides)
    return ev.TaskPosted(**fields)


def open_task(deposit: int = 1_000_000, **overrides: Any) -> list[Any]:
    """Deposit, then a batch of one task whose escrow matches it."""
    task = task_posted(**overrides)
    escrow = (task.reward + task.fee) * task.assignments
    batch = ev.BatchPosted(task.requester_id, task.batch_id, 1, escrow, task.currency)
    return [funds(deposit, task.requester_id, task.currency), batch, task]


def claim_id(n: int = 1) -> str:
    return make_claim_id(TASK, n)


def claimed(worker_id: str = W, n: int = 1, at: int = T0) -> ev.TaskClaimed:
    return ev.TaskClaimed(TASK, claim_id(n), worker_id, at + LEASE_MS)


def submitted(worker_id: str = W, n: int = 1, claimed_at: int = T0, at: int = T0 + 60_000) -> Any:
    cid = claim_id(n)
    return ev.WorkSubmitted(TASK, cid, cid, worker_id, {"label": "cat"}, claimed_at, at + AUTO_MS)


def approved(worker_id: str = W, n: int = 1, submitted_at: int = T0 + 60_000) -> Any:
    return ev.SubmissionApproved(
        TASK, claim_id(n), worker_id, R, REWARD, FEE, "EUR", submitted_at, False
    )


def rejected(worker_id: str = W, n: int = 1, submitted_at: int = T0 + 60_000) -> Any:
    return ev.SubmissionRejected(
        TASK, claim_id(n), worker_id, R, "wrong", submitted_at, UNIT, "EUR"
    )


def disputed(worker_id: str = W, n: int = 1) -> Any:
    return ev.RejectionDisputed(TASK, claim_id(n), worker_id, "it was right")


def overturned(worker_id: str = W, n: int = 1, by: str = "olga") -> Any:
    return ev.RejectionOverturned(TASK, claim_id(n), worker_id, R, REWARD, FEE, "EUR", by)


def cancelled(released: int) -> Any:
    return ev.TaskCancelled(TASK, R, released, "EUR")


def expired(released: int) -> Any:
    return ev.TaskExpired(TASK, R, released, "EUR")


# --- a whole market, for lifecycles and properties -------------------------------------

_FEES = (ev.SubmissionApproved, ev.BonusGranted, ev.RejectionOverturned)


class Market:
    """One shard driven like the processor does: decide, apply, queue the outbox."""

    def __init__(self, policy: Policy = POLICY) -> None:
        self.shard = Shard()
        self.policy = policy
        self.log: list[EventEnvelope] = []
        self.outbox: list[CommandEnvelope] = []
        self.sent = 0

    def send(self, command: Any, actor: tuple[str, str], at: int = T0) -> Decision:
        self.sent += 1
        env = CommandEnvelope(f"c{self.sent}", actor[1], actor[0], f"corr{self.sent}", command)
        return self.process(env, at)

    def process(self, env: CommandEnvelope, at: int) -> Decision:
        decision = self.shard.decide(env, at, self.policy)
        for stamped in decision.events:
            assert self.shard.apply(stamped)
            self.log.append(stamped)
        self.outbox.extend(decision.outbox)
        return decision

    def deliver(self, index: int = 0, at: int = T0) -> Decision:
        """Process one queued outbox command (a CreditWorker)."""
        return self.process(self.outbox.pop(index), at)

    def ledger(self, currency: str = "EUR") -> tuple[int, int]:
        """(money in, money accounted for): deposits vs every place money can be."""
        of = [env.event for env in self.log if getattr(env.event, "currency", None) == currency]
        deposits = sum(e.amount for e in of if isinstance(e, ev.FundsDeposited))
        payouts = sum(e.amount for e in of if isinstance(e, ev.PayoutIssued))
        fees = sum(e.fee for e in of if isinstance(e, _FEES))
        owed = sum(o.command.amount for o in self.outbox if o.command.currency == currency)
        held = sum(
            a.available.get(currency, 0) + a.escrow.get(currency, 0)
            for a in self.shard.accounts.values()
        )
        wallets = sum(w.balance.get(currency, 0) for w in self.shard.wallets.values())
        return deposits, held + wallets + owed + payouts + fees


# --- one submitted claim on the task, shared by the task and review tests ------------

SUB = claim_id(1)
SUBMIT_AT = T0 + 60_000


def claim(worker_id: str = W, quals: tuple[str, ...] = ()) -> c.ClaimTask:
    return c.ClaimTask(TASK, worker_id, quals)


def pending() -> list[Any]:
    return [*open_task(), claimed(), submitted()]
