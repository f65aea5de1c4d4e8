"""Suites: many claims, submissions or releases of one worker decided in one step.

Given a requester's batch / when a ClaimSuite, SubmitSuite or ReleaseSuite names several
of its tasks or claims / then one event per item decided as the single command would be,
distinct tasks, never more than `count`, and per-item refusals in the reply.
"""

import msgpack
import pytest

from schemas import commands as c
from schemas import events as ev
from schemas.codec import command_to_plain, decode_command
from schemas.envelope import CommandEnvelope
from schemas.errors import SchemaError
from tests.unit.domain_kit import (
    LEASE_MS,
    T0,
    W2,
    R,
    W,
    events,
    funds,
    given,
    refused,
    run,
    task_posted,
)
from tests.unit.domain_kit import when as decide
from tests.unit.test_domain_claim_alternatives import batch, taken, tid


def batch_of_two(n: int) -> list:
    """A deposit and one batch of `n` tasks with two assignments each."""
    posted = [task_posted(task_id=tid(i), assignments=2) for i in range(n)]
    unit = posted[0].reward + posted[0].fee
    return [funds(), ev.BatchPosted(R, "b1", n, 2 * n * unit, "EUR"), *posted]


def when(shard, command, actor=("worker", W), at=T0, command_id="cmd-1"):
    return decide(shard, command, actor=actor, at=at, command_id=command_id)


def suite(*tasks: int, count: int, worker_id: str = W, quals=()) -> c.ClaimSuite:
    return c.ClaimSuite(R, worker_id, tuple(tid(i) for i in tasks), count, quals)


def test_a_suite_claims_count_distinct_tasks_in_candidate_order():
    decision = when(given(batch(6)), suite(3, 1, 4, 0, 5, count=3))
    assert events(decision) == [ev.TaskClaimed(tid(i), f"{tid(i)}:c1", W, T0 + LEASE_MS)
                                for i in (3, 1, 4)]  # fmt: skip
    claims = decision.reply.result["claims"]
    assert [x["task_id"] for x in claims] == [tid(3), tid(1), tid(4)]
    assert claims[0] == {"task_id": tid(3), "claim_id": f"{tid(3)}:c1",
                         "lease_expires_at": T0 + LEASE_MS, "reward": 50_000,
                         "currency": "EUR"}  # fmt: skip
    assert [e.event_id for e in decision.events] == ["cmd-1/0", "cmd-1/1", "cmd-1/2"]


def test_taken_closed_unknown_and_unqualified_candidates_are_skipped():
    shard = given(batch(6), taken(0), ev.TaskCancelled(tid(2), R, 60_000, "EUR"))
    decision = when(shard, suite(0, 1, 2, 3, 9, count=5))
    assert [e.task_id for e in events(decision)] == [tid(1), tid(3)]


def test_fewer_free_than_count_claims_what_is_left():
    decision = when(given(batch(3), taken(1)), suite(0, 1, 2, count=50))
    assert [e.task_id for e in events(decision)] == [tid(0), tid(2)]


def test_never_a_task_the_worker_already_claimed_even_with_free_assignments():
    shard = given(batch_of_two(3), taken(0, by=W), taken(2, by=W2))
    decision = when(shard, suite(0, 1, 2, count=3))
    assert [e.task_id for e in events(decision)] == [tid(1), tid(2)]


def test_suites_applied_in_turn_never_claim_an_assignment_twice():
    shard = given(batch(10))
    seen: list[str] = []
    for n, worker in enumerate(["w1", "w2", "w3", "w4"]):
        decision = when(shard, suite(*range(10), count=3, worker_id=worker),
                        actor=("worker", worker), command_id=f"cmd-{n}")  # fmt: skip
        for env in decision.events:
            assert shard.apply(env)
        seen += [e.task_id for e in events(decision)] if decision.reply.accepted else []
    assert sorted(seen) == sorted(tid(i) for i in range(10))  # 3 + 3 + 3 + 1


def test_nothing_free_is_refused_with_the_first_reason():
    decision = when(given(batch(2), taken(0), taken(1)), suite(0, 1, count=2))
    refused(decision, "no_free_assignment")
    assert "none of 1 other candidates" in decision.reply.message
    refused(when(given(batch(2)), suite(0, 1, count=1, worker_id=W2)), "forbidden")


def test_qualifications_are_checked_per_task():
    shard = given(batch(2, qualifications=("fr",)))
    refused(when(shard, suite(0, 1, count=2)), "missing_qualification")
    assert len(events(when(shard, suite(0, 1, count=2, quals=("fr",))))) == 2


@pytest.mark.parametrize("bad", [
    dict(count=0), dict(count=c.MAXIMUM_SUITE + 1), dict(candidates=()),
    dict(candidates=(tid(0), tid(0))), dict(candidates=("rival:b1:0",)),
    dict(candidates=tuple(tid(i) for i in range(c.MAX_SUITE_CANDIDATES + 1))),
])  # fmt: skip
def test_a_suite_command_out_of_bounds_does_not_exist(bad):
    fields = dict(requester_id=R, worker_id=W, candidates=(tid(0),), count=1) | bad
    with pytest.raises((SchemaError, ValueError)):
        c.ClaimSuite(**fields)


def test_a_claim_suite_round_trips_the_codec():
    env = CommandEnvelope("id", W, "worker", "corr", suite(0, 1, count=2))
    plain = command_to_plain(env)
    assert decode_command(msgpack.packb(plain)).command == env.command


# --- submit and release many


def claimed_three():
    shard = given(batch(4))
    decision = run(shard, suite(0, 1, 2, count=3), actor=("worker", W))
    return shard, [x["claim_id"] for x in decision.reply.result["claims"]]


def test_submit_many_answers_per_item_in_order():
    shard, ids = claimed_three()
    other = run(shard, suite(3, count=1, worker_id=W2), actor=("worker", W2), command_id="cmd-2")
    foreign = other.reply.result["claims"][0]["claim_id"]
    items = (c.SuiteAnswer(ids[0], {"a": 1}), c.SuiteAnswer(foreign, {"a": 2}),
             c.SuiteAnswer(ids[2], "x"), c.SuiteAnswer(f"{tid(0)}:c9", 1))  # fmt: skip
    decision = when(shard, c.SubmitSuite(R, W, items), command_id="cmd-3")
    assert [(e.claim_id, e.answer) for e in events(decision)] == [(ids[0], {"a": 1}),
                                                                  (ids[2], "x")]  # fmt: skip
    result = decision.reply.result
    assert [(r["claim_id"], r["ok"], r.get("code")) for r in result["results"]] == [
        (ids[0], True, None), (foreign, False, "forbidden"), (ids[2], True, None),
        (f"{tid(0)}:c9", False, "claim_not_live")]  # fmt: skip
    assert result["results"][0]["submission_id"] == ids[0]
    assert (result["submitted"], result["refused"]) == (2, 2)


def test_submit_many_after_the_lease_is_refused_per_item():
    shard, ids = claimed_three()
    decision = when(shard, c.SubmitSuite(R, W, (c.SuiteAnswer(ids[0], 1),)),
                    at=T0 + LEASE_MS)  # fmt: skip
    assert decision.reply.result["results"][0]["code"] == "lease_expired"
    assert decision.events == ()


def test_release_many_returns_each_claim_and_refuses_a_second_release():
    shard, ids = claimed_three()
    decision = run(shard, c.ReleaseSuite(R, W, (ids[1], ids[0])), actor=("worker", W))
    assert [e.claim_id for e in events(decision)] == [ids[1], ids[0]]
    assert all(type(e) is ev.ClaimReleased for e in events(decision))
    again = when(shard, c.ReleaseSuite(R, W, (ids[0], ids[2])), command_id="cmd-2")
    assert [(r["ok"], r.get("code")) for r in again.reply.result["results"]] == [
        (False, "claim_not_live"), (True, None)]  # fmt: skip
    assert [e.task_id for e in events(again)] == [tid(2)]


def test_only_the_worker_itself_may_send_a_suite():
    shard, ids = claimed_three()
    refused(when(shard, c.ReleaseSuite(R, W, (ids[0],)), actor=("worker", W2)), "forbidden")
    refused(when(shard, c.SubmitSuite(R, W, (c.SuiteAnswer(ids[0], 1),)),
                 actor=("requester", R)), "forbidden")  # fmt: skip


@pytest.mark.parametrize("claim_ids", [(), (f"{tid(0)}:c1", f"{tid(0)}:c1"), ("rival:b:0:c1",),
                                       ("nonsense",),
                                       tuple(f"{tid(i)}:c1" for i in range(c.MAXIMUM_SUITE + 1))])
def test_item_lists_out_of_bounds_are_invalid(claim_ids):
    with pytest.raises((SchemaError, ValueError)):
        c.ReleaseSuite(R, W, claim_ids)
    with pytest.raises((SchemaError, ValueError)):
        c.SubmitSuite(R, W, tuple(c.SuiteAnswer(x, 1) for x in claim_ids))
