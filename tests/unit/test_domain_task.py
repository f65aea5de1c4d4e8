"""Task aggregate: every transition and every refusal, as given / when / then."""

import pytest

from broker.domain.context import Context
from broker.domain.errors import Refused
from broker.domain.task import decide_task
from schemas import commands as c
from schemas import events as ev
from tests.unit.domain_kit import (
    AUTO_MS,
    LEASE_MS,
    LIFETIME_MS,
    OPERATOR,
    POLICY,
    R2,
    SUBMIT_AT,
    SYSTEM,
    T0,
    TASK,
    UNIT,
    W2,
    R,
    W,
    approved,
    cancelled,
    claim,
    claim_id,
    claimed,
    events,
    expired,
    given,
    open_task,
    overturned,
    pending,
    refused,
    rejected,
    submitted,
    when,
    worker,
)

# --- claim ---------------------------------------------------------------------------


def test_claim_takes_a_slot_with_a_lease():
    decision = when(given(open_task()), claim(), actor=worker(), at=T0 + 5)
    assert events(decision) == [ev.TaskClaimed(TASK, claim_id(1), W, T0 + 5 + LEASE_MS)]
    assert decision.reply.result == {"task_id": TASK, "claim_id": claim_id(1),
                                     "lease_expires_at": T0 + 5 + LEASE_MS}


def test_claim_ids_count_every_claim():
    shard = given(open_task(), claimed(W), ev.ClaimReleased(TASK, claim_id(1), W, T0, 0, "EUR"))
    assert events(when(shard, claim(W2), actor=worker(W2)))[0].claim_id == claim_id(2)


def test_claim_refused_on_a_closed_task():
    refused(when(given(open_task(), cancelled(2 * UNIT)), claim(), actor=worker()), "task_closed")
    refused(when(given(open_task(), expired(2 * UNIT)), claim(), actor=worker()), "task_closed")


def test_claim_refused_once_past_expiry_even_before_the_timer():
    at = T0 + LIFETIME_MS
    refused(when(given(open_task()), claim(), actor=worker(), at=at), "task_closed")
    assert events(when(given(open_task()), claim(), actor=worker(), at=at - 1))


def test_claim_needs_every_qualification():
    shard = given(open_task(qualifications=("fr", "audio")))
    refused(when(shard, claim(quals=("fr",)), actor=worker()), "missing_qualification")
    assert events(when(shard, claim(quals=("audio", "fr", "x")), actor=worker()))


def test_a_worker_claims_a_task_only_once_even_after_releasing():
    release = ev.ClaimReleased(TASK, claim_id(1), W, T0, 0, "EUR")
    refused(
        when(given(open_task(), claimed()), claim(), actor=worker()), "already_claimed_by_worker"
    )
    refused(
        when(given(open_task(), claimed(), release), claim(), actor=worker()),
        "already_claimed_by_worker",
    )


def test_no_claim_beyond_the_assignments():
    shard = given(open_task(), claimed(W, 1), submitted(W, 1), claimed(W2, 2))
    refused(when(shard, claim("wendy"), actor=worker("wendy")), "no_free_assignment")


def test_a_rejected_assignment_is_consumed():
    shard = given(pending(), rejected(), claimed(W2, 2))
    refused(when(shard, claim("wendy"), actor=worker("wendy")), "no_free_assignment")


def test_only_the_worker_itself_claims():
    refused(when(given(open_task()), claim(W)), "forbidden")
    refused(when(given(open_task()), claim(W), actor=worker(W2)), "forbidden")
    refused(when(given(open_task()), claim(W), actor=OPERATOR), "forbidden")


def test_claim_on_an_unknown_task_is_not_found():
    refused(when(given(open_task()), c.ClaimTask("acme:b1:9", W), actor=worker()), "not_found")


# --- release and lease expiry ----------------------------------------------------------


def test_release_on_an_open_task_returns_the_slot_not_the_escrow():
    decision = when(
        given(open_task(), claimed()),
        c.ReleaseClaim(TASK, claim_id(1), W),
        actor=worker(),
        at=T0 + 10,
    )
    assert events(decision) == [ev.ClaimReleased(TASK, claim_id(1), W, T0, 0, "EUR")]


def test_release_on_a_closed_task_returns_the_escrow():
    shard = given(open_task(), claimed(), cancelled(UNIT))
    decision = when(shard, c.ReleaseClaim(TASK, claim_id(1), W), actor=worker())
    assert events(decision)[0].released_escrow == UNIT


def test_release_refusals():
    shard = given(open_task(), claimed())
    refused(when(shard, c.ReleaseClaim(TASK, claim_id(1), W2), actor=worker(W2)), "forbidden")
    refused(when(shard, c.ReleaseClaim(TASK, claim_id(1), W2), actor=worker(W)), "forbidden")
    refused(when(shard, c.ReleaseClaim(TASK, claim_id(7), W), actor=worker()), "claim_not_live")
    refused(
        when(given(pending()), c.ReleaseClaim(TASK, claim_id(1), W), actor=worker()),
        "claim_not_live",
    )


def test_lease_expiry_is_due_at_the_deadline():
    shard = given(open_task(), claimed())
    expire = c.ExpireClaim(TASK, claim_id(1))
    refused(when(shard, expire, actor=SYSTEM, at=T0 + LEASE_MS - 1), "not_due")
    decision = when(shard, expire, actor=SYSTEM, at=T0 + LEASE_MS)
    assert events(decision) == [ev.ClaimExpired(TASK, claim_id(1), W, T0, 0, "EUR")]


def test_lease_expiry_on_a_closed_task_returns_the_escrow():
    shard = given(open_task(), claimed(), expired(UNIT))
    decision = when(shard, c.ExpireClaim(TASK, claim_id(1)), actor=OPERATOR, at=T0 + LEASE_MS)
    assert events(decision)[0].released_escrow == UNIT


def test_lease_expiry_fires_once_and_only_for_timers():
    shard = given(open_task(), claimed(), ev.ClaimExpired(TASK, claim_id(1), W, T0, 0, "EUR"))
    expire = c.ExpireClaim(TASK, claim_id(1))
    refused(when(shard, expire, actor=SYSTEM, at=T0 + LEASE_MS), "claim_not_live")
    refused(
        when(given(open_task(), claimed()), expire, actor=worker(), at=T0 + LEASE_MS), "forbidden"
    )
    refused(when(given(open_task(), claimed()), expire, at=T0 + LEASE_MS), "forbidden")


# --- submission ----------------------------------------------------------------------


def test_submit_within_the_lease():
    decision = when(
        given(open_task(), claimed()),
        c.SubmitWork(TASK, claim_id(1), W, "cat"),
        actor=worker(),
        at=SUBMIT_AT,
    )
    assert events(decision) == [
        ev.WorkSubmitted(TASK, claim_id(1), claim_id(1), W, "cat", T0, SUBMIT_AT + AUTO_MS)
    ]
    assert decision.reply.result["submission_id"] == claim_id(1)


def test_submit_refusals():
    shard = given(open_task(), claimed())
    submit = c.SubmitWork(TASK, claim_id(1), W, "cat")
    refused(when(shard, submit, actor=worker(), at=T0 + LEASE_MS), "lease_expired")
    refused(when(shard, c.SubmitWork(TASK, claim_id(1), W2, "x"), actor=worker(W2)), "forbidden")
    refused(when(given(pending()), submit, actor=worker()), "claim_not_live")


def test_submit_on_a_live_lease_after_the_task_closed():
    shard = given(open_task(), claimed(), cancelled(UNIT))
    assert events(when(shard, c.SubmitWork(TASK, claim_id(1), W, "cat"), actor=worker()))


def test_fold_recovers_claim_and_submit_instants():
    task = given(open_task(), claimed(at=T0 + 7), submitted(claimed_at=T0 + 7, at=T0 + 99)).tasks
    sub = task[TASK].submissions[claim_id(1)]
    assert (sub.claimed_at, sub.submitted_at, sub.status) == (T0 + 7, T0 + 99, "pending")


# --- closing -------------------------------------------------------------------------


def test_cancel_releases_only_the_free_slots():
    shard = given(open_task(assignments=3), claimed())
    decision = when(shard, c.CancelTask(TASK, R))
    assert events(decision) == [ev.TaskCancelled(TASK, R, 2 * UNIT, "EUR")]


def test_cancel_refusals():
    cancel = c.CancelTask(TASK, R)
    refused(when(given(open_task(), cancelled(2 * UNIT)), cancel), "task_closed")
    refused(when(given(open_task()), cancel, actor=worker()), "forbidden")
    refused(when(given(open_task()), c.CancelTask(TASK, R2), actor=("requester", R2)), "forbidden")


def test_expire_task_when_due():
    shard = given(open_task(), claimed())
    expire = c.ExpireTask(TASK)
    refused(when(shard, expire, actor=SYSTEM, at=T0 + LIFETIME_MS - 1), "not_due")
    decision = when(shard, expire, actor=SYSTEM, at=T0 + LIFETIME_MS)
    assert events(decision) == [ev.TaskExpired(TASK, R, UNIT, "EUR")]
    refused(
        when(given(open_task(), cancelled(2 * UNIT)), expire, actor=SYSTEM, at=T0 * 2),
        "task_closed",
    )
    refused(when(shard, expire, at=T0 * 2), "forbidden")


# --- state and escrow held ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("story", "held", "used"),
    [
        ([], 2 * UNIT, 0),
        ([claimed()], 2 * UNIT, 1),
        ([claimed(), submitted()], 2 * UNIT, 1),
        ([claimed(), submitted(), approved()], UNIT, 1),
        ([claimed(), submitted(), rejected()], UNIT, 1),
        ([claimed(), submitted(), rejected(), overturned()], UNIT, 1),
        ([claimed(), cancelled(UNIT)], UNIT, 1),
        ([claimed(), submitted(), expired(UNIT)], UNIT, 1),
        ([claimed(), submitted(), expired(UNIT), approved()], 0, 1),
    ],
)
def test_escrow_held_by_a_task(story, held, used):
    task = given(open_task(), *story).tasks[TASK]
    assert (task.held_escrow(), task.used) == (held, used)
    assert given(open_task(), *story).check_invariants() == []


def test_decide_task_refuses_commands_it_does_not_handle():
    shard = given(open_task())
    ctx = Context(T0, "x", R, "requester", POLICY)
    with pytest.raises(Refused) as caught:
        decide_task(shard.tasks[TASK], shard.accounts[R], c.DepositFunds(R, 1, "EUR"), ctx)
    assert caught.value.code == "unknown_command" and caught.value.status == 422
