"""Task aggregate, reviews: approval, rejection, auto-approval, bonus, dispute, overturn."""

import pytest

from schemas import commands as c
from schemas import events as ev
from tests.unit.domain_kit import (
    AUTO_MS,
    FEE,
    OPERATOR,
    R2,
    REQUESTER,
    REWARD,
    SUB,
    SUBMIT_AT,
    SYSTEM,
    T0,
    TASK,
    UNIT,
    W2,
    R,
    W,
    approved,
    claim_id,
    claimed,
    disputed,
    events,
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

# --- review --------------------------------------------------------------------------


def test_approve_pays_reward_and_fee():
    decision = when(given(pending()), c.ApproveSubmission(TASK, SUB, R))
    assert events(decision) == [
        ev.SubmissionApproved(TASK, SUB, W, R, REWARD, FEE, "EUR", SUBMIT_AT, False)
    ]


def test_reject_releases_the_slots_escrow():
    decision = when(given(pending()), c.RejectSubmission(TASK, SUB, R, "blurry"))
    assert events(decision) == [
        ev.SubmissionRejected(TASK, SUB, W, R, "blurry", SUBMIT_AT, UNIT, "EUR")
    ]


@pytest.mark.parametrize(
    "command", [c.ApproveSubmission(TASK, SUB, R), c.RejectSubmission(TASK, SUB, R, "no")]
)
def test_review_refusals(command):
    refused(when(given(pending(), approved()), command), "not_pending")
    refused(when(given(pending(), rejected()), command), "not_pending")
    refused(when(given(pending()), command, actor=("requester", R2)), "forbidden")
    refused(when(given(pending()), command, actor=worker()), "forbidden")
    refused(when(given(pending()), command, actor=OPERATOR), "forbidden")


def test_a_rival_cannot_review_by_naming_itself():
    refused(
        when(given(pending()), c.ApproveSubmission(TASK, SUB, R2), actor=("requester", R2)),
        "forbidden",
    )


def test_review_of_an_unknown_submission_is_not_found():
    refused(when(given(pending()), c.ApproveSubmission(TASK, claim_id(5), R)), "not_found")


def test_auto_approve_when_due():
    auto = c.AutoApprove(TASK, SUB)
    refused(when(given(pending()), auto, actor=SYSTEM, at=SUBMIT_AT + AUTO_MS - 1), "not_due")
    decision = when(given(pending()), auto, actor=SYSTEM, at=SUBMIT_AT + AUTO_MS)
    assert events(decision)[0].automatic is True
    refused(when(given(pending(), approved()), auto, actor=SYSTEM, at=T0 * 2), "not_pending")
    refused(when(given(pending()), auto, at=T0 * 2), "forbidden")


# --- bonus ---------------------------------------------------------------------------


def test_bonus_carries_the_bonus_fee():
    decision = when(given(pending(), approved()), c.GrantBonus(TASK, W, R, 100_000, "thanks"))
    assert events(decision) == [ev.BonusGranted(TASK, W, R, 100_000, 20_000, "EUR", "thanks")]
    assert decision.reply.result == {"fee": 20_000}


def test_bonus_refusals():
    shard = given(open_task(deposit=120_000 + 1_200), claimed(), submitted())
    assert events(when(shard, c.GrantBonus(TASK, W, R, 1_000, "ok")))
    refused(when(shard, c.GrantBonus(TASK, W, R, 1_001, "ok")), "insufficient_funds")
    refused(when(shard, c.GrantBonus(TASK, W2, R, 1, "ok")), "no_submission")
    refused(when(shard, c.GrantBonus(TASK, W, R, 1, "ok"), actor=worker()), "forbidden")


# --- disputes and overturns --------------------------------------------------------------


def test_dispute_a_rejection():
    decision = when(
        given(pending(), rejected()),
        c.DisputeRejection(TASK, SUB, W, "it is a cat"),
        actor=worker(),
    )
    assert events(decision) == [ev.RejectionDisputed(TASK, SUB, W, "it is a cat")]


def test_dispute_refusals():
    dispute = c.DisputeRejection(TASK, SUB, W, "unfair")
    refused(when(given(pending()), dispute, actor=worker()), "not_rejected")
    refused(when(given(pending(), approved()), dispute, actor=worker()), "not_rejected")
    refused(
        when(given(pending(), rejected(), disputed()), dispute, actor=worker()), "already_disputed"
    )
    refused(
        when(
            given(pending(), rejected()), c.DisputeRejection(TASK, SUB, W2, "me"), actor=worker(W2)
        ),
        "forbidden",
    )
    refused(when(given(pending(), rejected()), dispute), "forbidden")


@pytest.mark.parametrize("actor", [REQUESTER, OPERATOR])
def test_overturn_by_requester_or_operator(actor):
    decision = when(
        given(pending(), rejected(), disputed()), c.OverturnRejection(TASK, SUB), actor=actor
    )
    assert events(decision) == [
        ev.RejectionOverturned(TASK, SUB, W, R, REWARD, FEE, "EUR", actor[1])
    ]


def test_overturn_refusals():
    overturn = c.OverturnRejection(TASK, SUB)
    refused(when(given(pending()), overturn), "not_rejected")
    refused(when(given(pending(), rejected(), overturned()), overturn), "not_rejected")
    refused(when(given(pending(), rejected()), overturn, actor=worker()), "forbidden")
    refused(when(given(pending(), rejected()), overturn, actor=("requester", R2)), "forbidden")
    refused(when(given(pending(), rejected()), overturn, actor=SYSTEM), "forbidden")
