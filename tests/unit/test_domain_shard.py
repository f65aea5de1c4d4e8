"""Shard: envelopes, outbox credits, replies, idempotent ids, apply, invariants, money."""

import dataclasses

import msgspec
import pytest

from broker.domain.errors import CODES
from broker.domain.shard import Shard
from broker.domain.stamping import MAX_COMMAND_ID, credit_command_id
from schemas import commands as c
from schemas import events as ev
from schemas.codec import decode_command, encode_command
from schemas.envelope import CommandEnvelope, EventEnvelope
from tests.unit.domain_kit import (
    AUTO_MS,
    LEASE_MS,
    LIFETIME_MS,
    OPERATOR,
    POLICY,
    REQUESTER,
    SYSTEM,
    T0,
    TASK,
    UNIT,
    W2,
    Market,
    W,
    approved,
    claim_id,
    claimed,
    given,
    open_task,
    refused,
    rejected,
    submitted,
    when,
    worker,
)

SPEC = c.TaskSpec("image_labelling", 50_000, "EUR", 30, assignments=2, payload={"u": 1})


def test_post_envelopes_continue_each_aggregates_sequence():
    shard = given(ev.FundsDeposited("acme", 1_000_000, "EUR"))
    decision = when(shard, c.PostTasks("acme", "b1", (SPEC, SPEC)), at=T0, command_id="k")
    first = decision.events[0]
    assert first == EventEnvelope(
        "k/0", "requester:acme", 2, T0, "k", "corr-1", "k", "acme", first.event
    )
    assert [(e.event_id, e.aggregate_id, e.sequence) for e in decision.events[1:]] == [
        ("k/1", "task:acme:b1:0", 1),
        ("k/2", "task:acme:b1:1", 1),
    ]
    assert decision.reply.event_ids == ("k/0", "k/1", "k/2")
    assert decision.reply.decided_at == T0


def test_task_event_sequence_follows_the_task_version():
    decision = when(given(open_task(), claimed()), c.ClaimTask(TASK, W2), actor=worker(W2))
    assert decision.events[0].sequence == 3


def test_decide_does_not_apply():
    shard = given(open_task())
    before = shard.tasks[TASK]
    when(shard, c.ClaimTask(TASK, W), actor=worker())
    assert shard.tasks[TASK] == before


def test_approval_queues_a_credit_for_the_worker():
    decision = when(
        given(open_task(), claimed(), submitted()),
        c.ApproveSubmission(TASK, claim_id(1), "acme"),
        command_id="ok-1",
    )
    (credit,) = decision.outbox
    assert credit == CommandEnvelope(
        command_id="credit:ok-1/0",
        actor_id="piecework",
        actor_role="system",
        correlation_id="corr-1",
        causation_id="ok-1/0",
        command=c.CreditWorker(W, "ok-1/0", "acme", TASK, 50_000, "EUR"),
    )


def test_bonus_and_overturn_credit_the_worker_and_rejection_does_not():
    shard = given(open_task(), claimed(), submitted(), rejected())
    bonus = when(shard, c.GrantBonus(TASK, W, "acme", 7_000, "sorry"))
    overturn = when(shard, c.OverturnRejection(TASK, claim_id(1)), actor=OPERATOR)
    assert [o.command.amount for o in bonus.outbox + overturn.outbox] == [7_000, 50_000]
    reject = when(
        given(open_task(), claimed(), submitted()),
        c.RejectSubmission(TASK, claim_id(1), "acme", "no"),
    )
    assert reject.outbox == ()


def test_credit_ids_stay_within_the_codecs_limit():
    assert credit_command_id("a/0") == "credit:a/0"
    long_id = credit_command_id("x" * 199 + "/0")
    assert len(long_id) <= MAX_COMMAND_ID and long_id == credit_command_id("x" * 199 + "/0")
    shard = given(open_task(), claimed(), submitted())
    decision = when(shard, c.ApproveSubmission(TASK, claim_id(1), "acme"), command_id="x" * 200)
    (credit,) = decision.outbox
    assert decode_command(encode_command(credit)) == credit


def test_replies_carry_what_callers_need():
    shard = given(open_task(), claimed())
    submit = when(shard, c.SubmitWork(TASK, claim_id(1), W, 1), actor=worker(), at=T0 + 5)
    assert submit.reply.result == {
        "submission_id": claim_id(1),
        "auto_approve_at": T0 + 5 + AUTO_MS,
    }
    cancel = when(shard, c.CancelTask(TASK, "acme"))
    assert cancel.reply.result == {"released_escrow": UNIT}
    assert when(shard, c.DepositFunds("acme", 1, "EUR")).reply.result == {}


def test_a_refusal_has_a_documented_code_and_no_events():
    decision = when(given(open_task()), c.CancelTask(TASK, "acme"), actor=worker())
    refused(decision, "forbidden")
    assert decision.reply.message and decision.reply.event_ids == ()
    assert CODES[decision.reply.code][0] == 403


def test_unknown_command_and_missing_aggregates():
    refused(when(given(), SPEC), "unknown_command")
    refused(when(given(), c.ExpireTask(TASK), actor=SYSTEM), "not_found")
    refused(when(given(), c.PostTasks("acme", "b1", (SPEC,))), "not_found")
    refused(when(given(), c.IssuePayout(W, "p", 1, "EUR"), actor=SYSTEM), "not_found")


@pytest.mark.parametrize(
    ("command", "actor", "at"),
    [
        (c.PostTasks("acme", "b2", (SPEC, SPEC)), REQUESTER, T0),
        (c.ClaimTask(TASK, W2), worker(W2), T0),
        (c.ApproveSubmission(TASK, claim_id(1), "acme"), REQUESTER, T0),
        (c.ExpireTask(TASK), SYSTEM, T0 + LIFETIME_MS),
    ],
)
def test_deciding_twice_on_the_same_state_mints_the_same_ids(command, actor, at):
    shard = given(open_task(), claimed(), submitted())
    assert when(shard, command, actor, at) == when(shard, command, actor, at)


def test_apply_skips_repeats_and_refuses_gaps():
    shard = given(open_task())
    decision = when(shard, c.ClaimTask(TASK, W), actor=worker())
    (env,) = decision.events
    assert shard.apply(env) is True
    assert shard.apply(env) is False
    assert shard.tasks[TASK].claim_count == 1
    with pytest.raises(ValueError, match="sequence"):
        shard.apply(msgspec.structs.replace(env, sequence=9))


def test_apply_folds_task_money_into_the_account():
    shard = given(open_task(), claimed(), ev.TaskCancelled(TASK, "acme", UNIT, "EUR"))
    expire = when(shard, c.ExpireClaim(TASK, claim_id(1)), actor=SYSTEM, at=T0 + LEASE_MS)
    shard.apply(expire.events[0])
    account = shard.accounts["acme"]
    assert (account.available["EUR"], account.escrow["EUR"]) == (1_000_000, 0)


def test_invariants_catch_broken_states():
    shard = given(open_task(), claimed(), submitted())
    assert shard.check_invariants() == []
    task = shard.tasks[TASK]
    no_slots = dataclasses.replace(task.terms, assignments=0)
    shard.tasks[TASK] = dataclasses.replace(task, terms=no_slots)
    shard.accounts["acme"] = dataclasses.replace(shard.accounts["acme"], escrow={"EUR": -1})
    shard.wallets[W] = dataclasses.replace(given().wallets.get(W) or _wallet(), balance={"EUR": -5})
    problems = " | ".join(shard.check_invariants())
    for needle in ("used slots", "negative escrow", "tasks hold", "negative balance"):
        assert needle in problems


def _wallet():
    from broker.domain.wallet import Wallet

    return Wallet(W)


def test_money_is_conserved_through_a_lifecycle():
    m = Market()
    m.send(c.DepositFunds("acme", 1_000_000, "EUR"), REQUESTER)
    more = msgspec.structs.replace(SPEC, assignments=10)
    m.send(c.PostTasks("acme", "b1", (SPEC, more)), REQUESTER)
    other = "acme:b1:1"
    for who in (W, W2, "wendy"):
        m.send(c.ClaimTask(TASK, who) if who != "wendy" else c.ClaimTask(other, who), worker(who))
    m.send(c.SubmitWork(TASK, claim_id(1), W, "a"), worker(W), T0 + 1)
    m.send(c.SubmitWork(TASK, claim_id(2), W2, "b"), worker(W2), T0 + 1)
    m.send(c.ApproveSubmission(TASK, claim_id(1), "acme"), REQUESTER, T0 + 2)
    m.send(c.RejectSubmission(TASK, claim_id(2), "acme", "bad"), REQUESTER, T0 + 2)
    m.send(c.DisputeRejection(TASK, claim_id(2), W2, "good"), worker(W2), T0 + 3)
    m.send(c.OverturnRejection(TASK, claim_id(2)), OPERATOR, T0 + 4)
    m.send(c.GrantBonus(TASK, W, "acme", 10_000, "fast"), REQUESTER, T0 + 5)
    m.send(c.CancelTask(other, "acme"), REQUESTER, T0 + 6)
    m.send(c.ExpireClaim(other, f"{other}:c1"), SYSTEM, T0 + LEASE_MS)
    assert m.ledger() == (1_000_000, 1_000_000) and len(m.outbox) == 3
    while m.outbox:
        assert m.deliver(at=T0 + LEASE_MS).reply.accepted
    m.send(c.IssuePayout(W, "p1", 60_000, "EUR"), OPERATOR, T0 + LEASE_MS)
    assert m.ledger() == (1_000_000, 1_000_000)
    assert m.shard.wallets[W].balance == {"EUR": 0} and m.shard.wallets[W2].balance["EUR"] == 50_000
    assert m.shard.accounts["acme"].escrow == {"EUR": 0}
    assert m.shard.check_invariants() == []
    assert all(d.reply.accepted for d in [m.send(c.DepositFunds("acme", 1, "EUR"), REQUESTER)])


def test_seed_translation_task_end_to_end():
    # 0.03 euro-cent for translating a product sheet: 300 micro-units, fee 60
    m = Market()
    m.send(c.DepositFunds("acme", 360, "EUR"), REQUESTER)
    spec = c.TaskSpec("translation", 300, "EUR", 600, payload={"ar": "..."})
    assert m.send(c.PostTasks("acme", "b1", (spec,)), REQUESTER).reply.result["escrow"] == 360
    m.send(c.ClaimTask(TASK, W), worker())
    m.send(c.SubmitWork(TASK, claim_id(1), W, {"en": "..."}), worker(), T0 + 600_000)
    m.send(c.ApproveSubmission(TASK, claim_id(1), "acme"), REQUESTER, T0 + 700_000)
    m.deliver(at=T0 + 700_000)
    assert m.shard.wallets[W].balance == {"EUR": 300}
    assert m.shard.accounts["acme"].available == {"EUR": 0}
    assert m.ledger() == (360, 360) and m.shard.check_invariants() == []


def test_a_credit_delivered_twice_pays_once():
    m = Market()
    m.send(c.DepositFunds("acme", 1_000_000, "EUR"), REQUESTER)
    m.send(c.PostTasks("acme", "b1", (SPEC,)), REQUESTER)
    m.send(c.ClaimTask(TASK, W), worker())
    m.send(c.SubmitWork(TASK, claim_id(1), W, 1), worker())
    credit = m.send(c.ApproveSubmission(TASK, claim_id(1), "acme"), REQUESTER).outbox[0]
    m.deliver()
    refused(m.process(credit, T0), "duplicate_credit")
    assert m.shard.wallets[W].balance == {"EUR": 50_000}


def test_approved_fixture_matches_what_the_domain_decides():
    decision = when(
        given(open_task(), claimed(), submitted()), c.ApproveSubmission(TASK, claim_id(1), "acme")
    )
    assert decision.events[0].event == approved()
    assert POLICY.fee_bp == 2_000 and isinstance(Shard(), Shard)
