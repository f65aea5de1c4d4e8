"""ClaimTask with alternatives: the first task of the list this worker may claim is claimed.

Given a requester's batch of one-assignment tasks / when a claim names several of them /
then one TaskClaimed on the first free one, or the named task's refusal.
"""

import msgpack
import pytest

from schemas import commands as c
from schemas import events as ev
from schemas.codec import command_to_plain, decode_command
from schemas.envelope import CommandEnvelope
from schemas.errors import SchemaError
from tests.unit.domain_kit import LEASE_MS, T0, W2, R, W, events, funds, given, refused, task_posted
from tests.unit.domain_kit import when as decide


def tid(i: int) -> str:
    return f"{R}:b1:{i}"


def batch(n: int = 4, **overrides) -> list:
    """A deposit and one batch of `n` tasks with one assignment each."""
    posted = [task_posted(task_id=tid(i), assignments=1, **overrides) for i in range(n)]
    unit = posted[0].reward + posted[0].fee
    return [funds(), ev.BatchPosted(R, "b1", n, n * unit, "EUR"), *posted]


def taken(i: int, by: str = W2) -> ev.TaskClaimed:
    return ev.TaskClaimed(tid(i), f"{tid(i)}:c1", by, T0 + LEASE_MS)


def claim_any(first: int, *others: int, worker_id: str = W, quals=()) -> c.ClaimTask:
    return c.ClaimTask(tid(first), worker_id, quals, tuple(tid(i) for i in others))


def when(shard, command, actor=("worker", W)):
    return decide(shard, command, actor=actor)


def test_the_named_task_wins_when_free():
    decision = when(given(batch()), claim_any(0, 1, 2))
    assert events(decision) == [ev.TaskClaimed(tid(0), f"{tid(0)}:c1", W, T0 + LEASE_MS)]
    assert decision.reply.result["task_id"] == tid(0)


def test_a_taken_task_falls_through_to_the_next_alternative_in_order():
    decision = when(given(batch(), taken(0), taken(2)), claim_any(0, 2, 3, 1))
    assert [e.task_id for e in events(decision)] == [tid(3)]
    assert decision.reply.result == {"task_id": tid(3), "claim_id": f"{tid(3)}:c1",
                                     "lease_expires_at": T0 + LEASE_MS}  # fmt: skip
    assert [e.event_id for e in decision.events] == ["cmd-1/0"]
    assert decision.events[0].aggregate_id == f"task:{tid(3)}"


def test_every_reason_to_skip_a_task_is_skipped():
    shard = given(batch(5), taken(0), taken(1, by=W), task_posted(task_id=f"{R}:b2:0",
                  qualifications=("fr",)), ev.TaskCancelled(tid(3), R, 60_000, "EUR"))  # fmt: skip
    command = c.ClaimTask(tid(0), W, (), (tid(1), f"{R}:b2:0", tid(3), f"{R}:b9:9", tid(4)))
    assert [e.task_id for e in events(when(shard, command))] == [tid(4)]


def test_none_free_is_refused_with_the_named_tasks_reason():
    decision = when(given(batch(3), taken(0), taken(1), taken(2)), claim_any(0, 1, 2))
    refused(decision, "no_free_assignment")
    assert "none of 2 alternatives" in decision.reply.message
    refused(when(given(batch(2), taken(1)), claim_any(9, 1)), "not_found")


def test_without_alternatives_a_claim_is_what_it_always_was():
    decision = when(given(batch(2), taken(0)), claim_any(0))
    refused(decision, "no_free_assignment")
    assert "alternatives" not in decision.reply.message


def test_another_worker_cannot_claim_through_alternatives():
    refused(when(given(batch()), claim_any(0, 1), actor=("worker", W2)), "forbidden")
    refused(when(given(batch()), claim_any(0, 1), actor=("requester", R)), "forbidden")


def test_one_decision_claims_one_task_only():
    shard = given(batch())
    decision = when(shard, claim_any(0, 1, 2, 3))
    assert len(decision.events) == 1 and decision.outbox == ()


# --- the field's rules --------------------------------------------------------------------


@pytest.mark.parametrize("alternatives, reason", [
    (tuple(tid(i) for i in range(1, 33)), "at most 31"),
    ((tid(1), "rival:b1:0"), "not a task of requester 'acme'"),
    ((tid(1), tid(1)), "appears twice"),
    ((tid(0),), "appears twice"),
    (("acme-b1-0",), "requester:batch:index"),
])  # fmt: skip
def test_alternatives_are_bounded_distinct_and_of_one_requester(alternatives, reason):
    with pytest.raises(SchemaError, match=reason) as caught:
        c.ClaimTask(tid(0), W, (), alternatives)
    assert caught.value.code in {"invalid_alternatives", "invalid_record"}


def test_thirty_one_alternatives_are_fine():
    assert len(c.ClaimTask(tid(0), W, (), tuple(tid(i) for i in range(1, 32))).candidates) == 32


def test_a_v1_claim_decodes_with_no_alternatives():
    plain = command_to_plain(CommandEnvelope("c1", W, "worker", "corr", c.ClaimTask(tid(0), W)))
    plain["v"] = 1
    del plain["d"]["alternatives"]
    decoded = decode_command(msgpack.packb(plain, use_bin_type=True))
    assert decoded.command == c.ClaimTask(tid(0), W, (), ())
