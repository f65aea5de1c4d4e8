"""Task groups view: given events, then groups (on a MemoryStore), their counts and pages."""

from __future__ import annotations

import random

import pytest

from consumers.engine.runner import fold_log
from consumers.queries import task_groups_query as tgq
from consumers.queries.listings import BadQuery, decode_cursor
from consumers.stores.memory_store import MemoryStore
from consumers.views import power, queue, task_groups, task_slots
from consumers.views.task_groups import group_id
from tests.view_story import Story

VIEWS = {queue.VIEW: queue.project, task_groups.VIEW: task_groups.project,
         power.VIEW: power.project}
TERMS = ("acme", "image_labelling", 50_000, "EUR", 30, ())


def fold(story: Story) -> MemoryStore:
    store = fold_log(story.records, views=VIEWS)
    assert isinstance(store, MemoryStore)
    return store


def members(store: MemoryStore, key: str) -> list[str]:
    return [m for m, _ in store.zrange_many([(key, 0, -1)])[0]]


def meta(store: MemoryStore, gid: str) -> dict[str, str]:
    return store.hgetall(task_groups.meta_key(gid))


def test_group_id_is_a_short_stable_hash_of_the_terms() -> None:
    gid = group_id(*TERMS)
    assert len(gid) == 16 and int(gid, 16) >= 0
    assert group_id("acme", "image_labelling", 50_000, "EUR", 30, ["fr", "de", "fr"]) == \
        group_id("acme", "image_labelling", 50_000, "EUR", 30, ("de", "fr"))  # fmt: skip
    variants = [("zeta", *TERMS[1:]), (TERMS[0], "survey", *TERMS[2:]),
                (*TERMS[:2], 50_001, *TERMS[3:]), (*TERMS[:3], "USD", *TERMS[4:]),
                (*TERMS[:4], 31, ()), (*TERMS[:5], ("fr",))]  # fmt: skip
    assert len({gid, *(group_id(*v) for v in variants)}) == 1 + len(variants)


def test_tasks_with_the_same_terms_form_one_group_scored_like_the_queue() -> None:
    s = Story()
    a = s.post("acme", "b1", count=2)
    b = s.advance(1_000).post("acme", "b2", count=1, priority=5)  # same terms, other batch
    other = s.post("acme", "b3", reward=60_000)
    store = fold(s)
    gid = group_id(*TERMS)
    assert members(store, task_groups.tasks_key(gid)) == b + a  # priority, then age
    assert members(store, task_groups.tasks_key(gid)) == [
        t for t in members(store, queue.open_key("")) if t not in other]
    found = meta(store, gid)
    assert {k: found[k] for k in ("requester_id", "kind", "reward", "currency",
                                  "estimated_seconds", "qualifications", "open_tasks",
                                  "free")} == {
        "requester_id": "acme", "kind": "image_labelling", "reward": "50000",
        "currency": "EUR", "estimated_seconds": "30", "qualifications": "", "open_tasks": "3",
        "free": "3"}  # fmt: skip
    assert found["posted_at"] == str(s.now)  # the newest task's
    assert store.smembers(task_groups.SIGS) == {""}
    assert set(members(store, task_groups.open_key(""))) == {gid, group_id(
        "acme", "image_labelling", 60_000, "EUR", 30, ())}


def test_membership_and_counts_follow_claims_releases_expiries_and_closes() -> None:
    s = Story()
    t1, t2 = s.post("acme", count=2, assignments=2)
    gid = group_id(*TERMS)
    c1, c2 = s.claim(t1, "wanda"), s.claim(t1, "walt")
    store = fold(s)
    assert members(store, task_groups.tasks_key(gid)) == [t2]
    assert (meta(store, gid)["open_tasks"], meta(store, gid)["free"]) == ("1", "2")
    s.release(c1)
    assert members(fold(s), task_groups.tasks_key(gid)) == [t1, t2]
    c3 = s.claim(t2, "wanda")
    s.close(t2)  # one free assignment leaves with the task
    store = fold(s)
    assert members(store, task_groups.tasks_key(gid)) == [t1]
    assert (meta(store, gid)["open_tasks"], meta(store, gid)["free"]) == ("1", "1")
    s.release(c3)  # a release after the close never reopens it
    s.expire_claim(c2)
    store = fold(s)
    assert (meta(store, gid)["open_tasks"], meta(store, gid)["free"]) == ("1", "2")
    assert task_slots.read(store, task_groups.BUCKET, t2) == {"free": str(2 - queue.CLOSED)}
    s.claim(t1, "nina"), s.claim(t1, "olga")
    store = fold(s)
    assert members(store, task_groups.tasks_key(gid)) == []
    assert (meta(store, gid)["open_tasks"], meta(store, gid)["free"]) == ("0", "0")
    assert members(store, task_groups.open_key("")) == []  # no free assignment: not listed


def test_a_random_history_keeps_groups_equal_to_the_queue() -> None:
    rng = random.Random(7)
    s = Story()
    tasks: list[str] = []
    for b in range(6):
        tasks += s.post(rng.choice(["acme", "zeta"]), f"b{b}", count=rng.randint(1, 4),
                        assignments=rng.randint(1, 3), reward=rng.choice([10_000, 20_000]),
                        qualifications=rng.choice([(), ("fr",), ("fr", "audio")]))
    live: list[str] = []
    for _ in range(200):
        s.advance(rng.randint(1, 5_000))
        roll, task = rng.random(), rng.choice(tasks)
        state = s.tasks[task]
        if roll < 0.5 and state.open and state.free > 0:
            live.append(s.claim(task, f"w{rng.randint(0, 40)}"))
        elif roll < 0.8 and live:
            claim = live.pop(rng.randrange(len(live)))
            (s.release if rng.random() < 0.5 else s.expire_claim)(claim)
        elif roll < 0.85 and state.open:
            s.close(task, expired=rng.random() < 0.5)
    store = fold(s)
    by_group: dict[str, dict[str, float]] = {}
    for sig in store.smembers(queue.SIGS):
        for task, score in store.zrange_many([(queue.open_key(sig), 0, -1)])[0]:
            p = s.tasks[task].posted
            gid = group_id(p.requester_id, p.kind, p.reward, p.currency, p.estimated_seconds,
                           p.qualifications)  # fmt: skip
            by_group.setdefault(gid, {})[task] = score
    gids = {m for sig in store.smembers(task_groups.SIGS)
            for m in members(store, task_groups.open_key(sig))}  # fmt: skip
    assert gids == set(by_group)
    for gid, expected in by_group.items():
        assert dict(store.zrange_many([(task_groups.tasks_key(gid), 0, -1)])[0]) == expected
        free = sum(int(task_slots.read(store, queue.BUCKET, t)["free"]) for t in expected)
        assert meta(store, gid)["free"] == str(free)
        assert meta(store, gid)["open_tasks"] == str(len(expected))


def test_a_worker_sees_only_groups_it_qualifies_for_sorted_and_paged() -> None:
    s = Story()
    s.post("acme", "plain", reward=10_000, estimated_seconds=60)
    s.advance(1).post("acme", "fr", reward=90_000, estimated_seconds=60, qualifications=("fr",))
    s.advance(1).post("zeta", "both", reward=50_000, estimated_seconds=60,
                      qualifications=("fr", "audio"))  # fmt: skip
    store = fold(s)
    seen = {q: [g["requester_id"] + ":" + str(g["reward"])
                for g in tgq.groups_page(store, q, "reward_per_hour", None, 10)[0]]
            for q in ((), ("fr",), ("audio", "fr", "x"))}  # fmt: skip
    assert seen == {(): ["acme:10000"], ("fr",): ["acme:90000", "acme:10000"],
                    ("audio", "fr", "x"): ["acme:90000", "zeta:50000", "acme:10000"]}
    quals = ("audio", "fr")
    newest = tgq.groups_page(store, quals, "newest", None, 10)[0]
    assert [g["reward"] for g in newest] == [50_000, 90_000, 10_000]
    assert newest[0]["reward_per_hour"] == 3_000_000
    assert newest[0]["qualifications"] == ["audio", "fr"]
    assert newest[0]["requester"]["requester_id"] == "zeta"
    first, cursor = tgq.groups_page(store, quals, "newest", None, 2)
    assert cursor is not None and decode_cursor(cursor) is not None
    rest, end = tgq.groups_page(store, quals, "newest", decode_cursor(cursor), 2)
    assert first + rest == newest and end is None
    # nobody has reviews yet: the measured wage sorts every group last, by id
    by_wage = tgq.groups_page(store, quals, "requester_wage", None, 10)[0]
    assert [g["group_id"] for g in by_wage] == sorted(g["group_id"] for g in newest)


def test_a_sort_the_api_does_not_know_is_refused() -> None:
    assert tgq.parse_sort(None) == "reward_per_hour"
    with pytest.raises(BadQuery):
        tgq.parse_sort("cheapest")
