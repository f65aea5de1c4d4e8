"""Random command sequences through Shard.decide + apply; the invariants hold after each step.

Money is conserved per currency to the micro-unit, every paying event is credited exactly
once (or waits in the outbox), refusals decide nothing, ids are idempotent, and replaying
the log rebuilds the same state.
"""

from collections import Counter

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from broker.domain.shard import Shard
from schemas import commands as c
from schemas import events as ev
from schemas.envelope import CommandEnvelope
from tests.unit.domain_kit import OPERATOR, SYSTEM, T0, Market

REQUESTERS = ("acme", "bolt")
WORKERS = ("w1", "w2", "w3", "w4")
CURRENCIES = ("EUR", "USD")
PAYING = (ev.SubmissionApproved, ev.BonusGranted, ev.RejectionOverturned)

specs = st.builds(
    c.TaskSpec,
    kind=st.just("data_entry"),
    reward=st.integers(1, 200_000),
    currency=st.just("EUR"),
    estimated_seconds=st.integers(1, 600),
    assignments=st.sampled_from((1, 2, 3, 10)),
    lease_seconds=st.integers(10, 600),
    lifetime_seconds=st.integers(60, 900),
    auto_approve_seconds=st.integers(1, 600),
    payload=st.just({"n": 1}),
)


class MarketMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.m = Market()
        self.now = T0
        self.batches = 0
        self.redelivered: list = []

    # --- plumbing --------------------------------------------------------------------

    def send(self, command, actor):
        n = self.m.sent + 1
        env = CommandEnvelope(f"c{n}", actor[1], actor[0], f"corr{n}", command)
        first = self.m.shard.decide(env, self.now, self.m.policy)
        decision = self.m.send(command, actor, self.now)  # decides env again, then applies
        assert decision == first  # same state, same command: same ids, same events
        if not decision.reply.accepted:
            assert decision.events == () and decision.outbox == ()
        return decision

    def _of(self, kind):
        return [env.event for env in self.m.log if isinstance(env.event, kind)]

    def _choose(self, data, useful, anything):
        """Mostly a target the command can succeed on, sometimes any: refusals matter too."""
        pool = useful if useful and data.draw(st.integers(0, 4)) else anything
        return data.draw(st.sampled_from(pool)) if pool else None

    def _claim(self, data):
        live = [
            (t.task_id, cid, cl.worker_id)
            for t in self.m.shard.tasks.values()
            for cid, cl in t.claims.items()
        ]
        ever = [(e.task_id, e.claim_id, e.worker_id) for e in self._of(ev.TaskClaimed)]
        return self._choose(data, live, ever)

    def _submission(self, data, status):
        subs = [
            (t.task_id, sid, s.worker_id, s.status)
            for t in self.m.shard.tasks.values()
            for sid, s in t.submissions.items()
        ]
        return self._choose(data, [s for s in subs if s[3] == status], subs)

    def _has(self, status):
        return any(
            s.status == status for t in self.m.shard.tasks.values() for s in t.submissions.values()
        )

    def _task(self, data):
        tasks = list(self.m.shard.tasks.values())
        return self._choose(data, [t for t in tasks if t.status == "open"], tasks)

    # --- rules -------------------------------------------------------------------------

    @initialize()
    def open_accounts(self):
        for r in REQUESTERS:
            self.send(c.DepositFunds(r, 3_000_000, "EUR"), ("requester", r))

    @rule(
        r=st.sampled_from(REQUESTERS),
        amount=st.integers(1, 2_000_000),
        currency=st.sampled_from(CURRENCIES),
    )
    def deposit(self, r, amount, currency):
        self.send(c.DepositFunds(r, amount, currency), ("requester", r))

    @rule(
        r=st.sampled_from(REQUESTERS),
        tasks=st.lists(specs, min_size=1, max_size=3),
        reuse=st.booleans(),
    )
    def post(self, r, tasks, reuse):
        self.batches += not reuse or self.batches == 0
        self.send(c.PostTasks(r, f"b{self.batches}", tuple(tasks)), ("requester", r))

    @precondition(lambda self: self.m.shard.tasks)
    @rule(data=st.data(), w=st.sampled_from(WORKERS))
    def claim(self, data, w):
        task = self._task(data)
        if task:
            self.send(c.ClaimTask(task.task_id, w), ("worker", w))

    @precondition(lambda self: any(t.claims for t in self.m.shard.tasks.values()))
    @rule(
        data=st.data(),
        honest=st.integers(0, 5),
        how=st.sampled_from(("submit", "submit", "release")),
    )
    def by_claimer(self, data, honest, how):
        claim = self._claim(data)
        if claim:
            task_id, claim_id, owner = claim
            w = owner if honest else data.draw(st.sampled_from(WORKERS))
            if how == "release":
                command = c.ReleaseClaim(task_id, claim_id, w)
            else:
                command = c.SubmitWork(task_id, claim_id, w, "answer")
            self.send(command, ("worker", w))

    @precondition(lambda self: self._has("pending"))
    @rule(data=st.data(), how=st.sampled_from(("approve", "reject", "reject", "auto")))
    def review(self, data, how):
        sub = self._submission(data, "pending")
        if sub:
            t, s, r = sub[0], sub[1], sub[0].split(":")[0]
            command, actor = {
                "approve": (c.ApproveSubmission(t, s, r), ("requester", r)),
                "reject": (c.RejectSubmission(t, s, r, "no"), ("requester", r)),
                "auto": (c.AutoApprove(t, s), SYSTEM),
            }[how]
            self.send(command, actor)

    @precondition(lambda self: self._has("rejected"))
    @rule(data=st.data(), how=st.sampled_from(("dispute", "overturn", "overturn_by_requester")))
    def contest(self, data, how):
        sub = self._submission(data, "rejected")
        if sub:
            t, s, w, r = sub[0], sub[1], sub[2], sub[0].split(":")[0]
            if how == "dispute":
                self.send(c.DisputeRejection(t, s, w, "unfair"), ("worker", w))
            else:
                actor = OPERATOR if how == "overturn" else ("requester", r)
                self.send(c.OverturnRejection(t, s), actor)

    @precondition(lambda self: self._has("approved"))
    @rule(data=st.data(), amount=st.integers(1, 300_000))
    def bonus(self, data, amount):
        sub = self._submission(data, "approved")
        if sub:
            r = sub[0].split(":")[0]
            self.send(c.GrantBonus(sub[0], sub[2], r, amount, "thanks"), ("requester", r))

    @precondition(lambda self: self.m.shard.tasks)
    @rule(data=st.data(), how=st.sampled_from(("cancel", "expire", "expire_claim")))
    def close(self, data, how):
        task, claim = self._task(data), self._claim(data)
        if how == "cancel" and task:
            self.send(
                c.CancelTask(task.task_id, task.requester_id), ("requester", task.requester_id)
            )
        elif how == "expire" and task:
            self.send(c.ExpireTask(task.task_id), SYSTEM)
        elif how == "expire_claim" and claim:
            self.send(c.ExpireClaim(claim[0], claim[1]), SYSTEM)

    @rule(ms=st.one_of(st.integers(1, 30_000), st.integers(30_000, 1_000_000)))
    def tick(self, ms):
        self.now += ms

    @precondition(lambda self: self.m.outbox)
    @rule(data=st.data())
    def deliver_credit(self, data):
        index = data.draw(st.integers(0, len(self.m.outbox) - 1))
        credit = self.m.outbox[index]
        assert self.m.deliver(index, self.now).reply.accepted
        self.redelivered.append(credit)

    @precondition(lambda self: self.redelivered)
    @rule(data=st.data())
    def redeliver_credit(self, data):
        credit = data.draw(st.sampled_from(self.redelivered))
        assert self.m.process(credit, self.now).reply.code == "duplicate_credit"

    @precondition(lambda self: self.m.shard.wallets)
    @rule(data=st.data(), w=st.sampled_from(WORKERS), cur=st.sampled_from(CURRENCIES))
    def payout(self, data, w, cur):
        wallet = self.m.shard.wallets.get(w)
        balance = wallet.balance.get(cur, 0) if wallet else 0
        amount = data.draw(st.integers(1, max(1, balance + 10)))
        self.send(c.IssuePayout(w, f"p{self.m.sent}", amount, cur), OPERATOR)

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def shard_invariants_hold(self):
        assert self.m.shard.check_invariants() == []

    @invariant()
    def money_is_conserved(self):
        for currency in CURRENCIES:
            money_in, accounted = self.m.ledger(currency)
            assert money_in == accounted, currency

    @invariant()
    def every_paying_event_is_credited_exactly_once(self):
        credited = Counter(e.source_event_id for e in self._of(ev.WorkerCredited))
        pending = Counter(o.command.source_event_id for o in self.m.outbox)
        paying = {env.event_id for env in self.m.log if isinstance(env.event, PAYING)}
        assert set(credited) | set(pending) == paying  # nothing else is ever credited
        for event_id in paying:
            assert credited[event_id] + pending[event_id] == 1, event_id

    def teardown(self):
        rebuilt = Shard()
        for env in self.m.log:
            assert rebuilt.apply(env)
        live = self.m.shard
        assert (rebuilt.accounts, rebuilt.tasks, rebuilt.wallets) == (
            live.accounts,
            live.tasks,
            live.wallets,
        )


MarketMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_market = MarketMachine.TestCase
