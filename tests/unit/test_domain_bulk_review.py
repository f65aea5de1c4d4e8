"""ReviewSubmissions: many reviews of one requester in one command, answered per item."""

import pytest

from schemas import commands as c
from schemas import events as ev
from tests.unit.domain_kit import (
    FEE,
    R2,
    REWARD,
    SUBMIT_AT,
    TASK,
    UNIT,
    W2,
    R,
    W,
    approved,
    claim_id,
    claimed,
    events,
    given,
    open_task,
    refused,
    submitted,
    when,
    worker,
)

S1, S2, S3 = claim_id(1), claim_id(2), claim_id(3)
RIVAL_TASK = "rival:b9:0"


def three_pending() -> list:
    """Three submissions on TASK (three assignments), by wanda, walt and wes."""
    return [
        *open_task(assignments=3),
        claimed(W, 1),
        claimed(W2, 2),
        claimed("wes", 3),
        submitted(W, 1),
        submitted(W2, 2),
        submitted("wes", 3),
    ]


def item(sid: str, decision: str = "approve", reason: str = "") -> c.ReviewItem:
    return c.ReviewItem(sid, decision, reason)


def review(*items: c.ReviewItem, requester: str = R) -> c.ReviewSubmissions:
    return c.ReviewSubmissions(requester, tuple(items))


def test_a_mix_is_decided_item_by_item_with_the_single_review_events():
    decision = when(
        given(three_pending()),
        review(item(S1), item(S2, "reject", "blurry"), item(f"{TASK}:c9")),
    )
    assert events(decision) == [
        ev.SubmissionApproved(TASK, S1, W, R, REWARD, FEE, "EUR", SUBMIT_AT, False),
        ev.SubmissionRejected(TASK, S2, W2, R, "blurry", SUBMIT_AT, UNIT, "EUR"),
    ]
    result = decision.reply.result
    assert result["results"][:2] == [
        {"submission_id": S1, "ok": True},
        {"submission_id": S2, "ok": True},
    ]
    unknown = result["results"][2]
    assert (unknown["ok"], unknown["code"]) == (False, "not_found")
    assert (result["approved"], result["rejected"], result["refused"]) == (1, 1, 1)
    # the approval owes the worker its reward: the outbox credits it, as for one approval
    assert [o.command.worker_id for o in decision.outbox] == [W]
    assert [o.command.amount for o in decision.outbox] == [REWARD]


def test_already_reviewed_is_refused_per_item_and_the_rest_goes_through():
    decision = when(given(three_pending(), approved(W, 1)), review(item(S1), item(S3)))
    assert [type(e) for e in events(decision)] == [ev.SubmissionApproved]
    outcomes = decision.reply.result["results"]
    assert outcomes[0]["code"] == "not_pending" and outcomes[1] == {"submission_id": S3, "ok": True}


def test_items_on_the_same_task_see_each_others_effects():
    decision = when(given(three_pending()), review(item(S1), item(S2), item(S3, "reject", "no")))
    evs = events(decision)
    assert [type(e) for e in evs] == [ev.SubmissionApproved] * 2 + [ev.SubmissionRejected]
    # sequences continue one after another on the one task aggregate
    assert [env.sequence for env in decision.events] == [8, 9, 10]


def test_every_item_refused_still_answers_per_item():
    decision = when(given(three_pending(), approved(W, 1)), review(item(S1), item(f"{TASK}:c7")))
    assert decision.reply.accepted and decision.events == () and decision.outbox == ()
    codes = [o["code"] for o in decision.reply.result["results"]]
    assert codes == ["not_pending", "not_found"]
    assert decision.reply.result["refused"] == 2


def test_unknown_task_and_no_account_are_not_found_per_item():
    decision = when(given(), review(item(S1)))
    assert decision.reply.result["results"][0]["code"] == "not_found"


def test_another_requesters_command_is_refused_whole():
    refused(when(given(three_pending()), review(item(S1)), actor=("requester", R2)), "forbidden")
    refused(when(given(three_pending()), review(item(S1)), actor=worker()), "forbidden")


@pytest.mark.parametrize(
    ("items", "fragment"),
    [
        ((), "items"),
        ((c.ReviewItem(f"{RIVAL_TASK}:c1", "approve"),), "not acme's"),
        ((c.ReviewItem(S1, "approve"), c.ReviewItem(S1, "approve")), "twice"),
        ((c.ReviewItem("nonsense", "approve"),), "submission"),
        (tuple(c.ReviewItem(f"acme:b:{i}:c1", "approve") for i in range(1_001)), "items"),
    ],
)
def test_command_field_rules(items, fragment):
    with pytest.raises(ValueError, match=fragment):
        c.ReviewSubmissions(R, items)


@pytest.mark.parametrize(
    ("decision", "reason"), [("maybe", ""), ("reject", ""), ("reject", "x" * (c.MAX_REASON + 1))]
)
def test_item_field_rules(decision, reason):
    with pytest.raises(ValueError):
        c.ReviewItem(S1, decision, reason)


def test_a_thousand_items_is_allowed():
    items = tuple(c.ReviewItem(f"acme:b:{i}:c1", "approve") for i in range(1000))
    cmd = c.ReviewSubmissions(R, items)
    assert len(cmd.items) == 1000


def test_the_command_and_its_reply_survive_the_codec():
    from schemas import codec
    from schemas.envelope import CommandEnvelope

    cmd = review(item(S1), item(S2, "reject", "blurry"))
    env = CommandEnvelope("cmd-9", R, "requester", "corr", cmd)
    assert codec.decode_command(codec.encode_command(env)).command == cmd
    reply = when(given(three_pending()), cmd).reply
    assert codec.decode_reply(codec.encode_reply(reply)).result == reply.result
