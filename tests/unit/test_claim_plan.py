"""Claim-next's plan: per-worker rotation of the queue's head, one ClaimTask per requester."""

from collections import Counter

from broker.api.claim_plan import (
    GROUP_LIMIT,
    attempt_suffix,
    grouped,
    pack,
    plan,
    rotated,
    unpack,
)

HEAD = [f"acme:b1:{i}" for i in range(24)]


def test_rotation_is_a_stable_permutation_per_worker():
    assert sorted(rotated("w1", HEAD)) == sorted(HEAD)
    assert rotated("w1", HEAD) == rotated("w1", list(reversed(HEAD)))
    assert rotated("w1", HEAD) != rotated("w2", HEAD)


def test_a_hundred_workers_spread_their_first_choice_over_the_head():
    firsts = Counter(rotated(f"w{i}", HEAD)[0] for i in range(100))
    # best first for everyone would put all 100 on HEAD[0]; uniform gives about 4 each
    assert len(firsts) >= 18 and max(firsts.values()) <= 12


def test_one_group_per_requester_in_order_of_first_sight():
    ordered = ["b:x:1", "a:x:1", "b:x:2", "c:x:1", "a:x:2"]
    assert grouped(ordered) == [("b:x:1", "b:x:2"), ("a:x:1", "a:x:2"), ("c:x:1",)]


def test_a_group_holds_at_most_one_task_and_its_alternatives():
    many = [f"acme:b1:{i}" for i in range(GROUP_LIMIT + 3)]
    groups = grouped(many)
    assert [len(g) for g in groups] == [GROUP_LIMIT, 3]
    assert [t for g in groups for t in g] == many


def test_plan_skips_what_this_request_already_tried():
    groups = plan("w1", HEAD, tried=HEAD[:20])
    assert sorted(t for g in groups for t in g) == HEAD[20:]
    assert plan("w1", HEAD, tried=HEAD) == []


def test_a_task_listed_twice_is_planned_once():
    # A task sits in one queue per qualification it asks for: the candidates repeat it,
    # and a group naming a task twice is refused (invalid_alternatives).
    groups = plan("w1", [*HEAD[:5], *HEAD[:5]])
    assert sorted(t for g in groups for t in g) == sorted(HEAD[:5])


def test_the_idempotency_memory_reads_old_single_task_entries():
    group = ("acme:b1:3", "acme:b1:0")
    assert unpack(pack(group)) == group
    assert unpack("acme:b1:3") == ("acme:b1:3",)


def test_a_single_task_attempt_keeps_its_old_command_id():
    import hashlib

    old = hashlib.sha256(b"acme:b1:3").hexdigest()[:10]
    assert attempt_suffix(("acme:b1:3",)) == old
    assert attempt_suffix(("acme:b1:3", "acme:b1:4")) != old


def test_a_worker_takes_one_group_from_a_window_twice_as_wide():
    window = [f"acme:b1:{i}" for i in range(2 * GROUP_LIMIT)]
    (group,) = plan("w1", window)
    assert len(group) == GROUP_LIMIT and set(group) < set(window)
    # a hundred workers together still ask for every task of the window
    assert {t for i in range(100) for t in plan(f"w{i}", window)[0]} == set(window)
