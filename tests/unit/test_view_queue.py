"""Assignment queue: given events, then the queue (on a MemoryStore) and its candidates."""

from __future__ import annotations

import random

import pytest

from consumers.engine.runner import apply_batch, fold_log
from consumers.queries.queue_query import candidates, satisfied
from consumers.stores.memory_store import MemoryStore
from consumers.views import queue, task_slots
from tests.view_story import T0, Story

VIEWS = {queue.VIEW: queue.project}


def fold(story: Story) -> MemoryStore:
    store = fold_log(story.records, views=VIEWS)
    assert isinstance(store, MemoryStore)
    return store


def open_tasks(store: MemoryStore, sig: str = "") -> list[str]:
    return [m for m, _ in store.zrange_many([(queue.open_key(sig), 0, -1)])[0]]


def test_open_tasks_are_ordered_by_priority_then_age() -> None:
    s = Story()
    old = s.post("acme", "old", count=2)
    urgent = s.advance(1_000).post("acme", "urgent", priority=10)
    young = s.advance(1_000).post("acme", "young")
    low = s.post("acme", "low", priority=-3)
    assert open_tasks(fold(s)) == urgent + old + young + low


def test_each_qualification_set_has_its_own_queue() -> None:
    s = Story()
    plain = s.post("acme", "p")
    fr = s.post("acme", "f", qualifications=("fr", "audio", "fr"))
    store = fold(s)
    assert store.smembers(queue.SIGS) == {"", "audio,fr"}
    assert open_tasks(store) == plain
    assert open_tasks(store, "audio,fr") == fr


def test_a_task_leaves_the_queue_when_its_assignments_are_taken_and_returns_on_release() -> None:
    s = Story()
    first, second = s.post("acme", count=2, assignments=2)
    c1 = s.claim(first, "wanda")
    assert open_tasks(fold(s)) == [first, second]
    c2 = s.claim(first, "walt")
    assert open_tasks(fold(s)) == [second]
    s.release(c1)
    assert open_tasks(fold(s)) == [first, second]  # back at its old place: age is kept
    s.expire_claim(c2)
    store = fold(s)
    assert task_slots.read(store, queue.BUCKET, first)["free"] == "2"


def test_the_task_hash_holds_only_what_zsync_reads() -> None:
    s = Story()
    (task,) = s.post("acme", reward=300, fee=60, kind="translation", priority=2)
    meta = task_slots.read(fold(s), queue.BUCKET, task)
    # The task's terms live in the tasks view: nothing reads them here (Redis memory).
    assert meta == {"free": "1", "zset": queue.open_key(""), "score": str(queue.score(2, T0))}


def test_a_closed_task_never_returns_even_when_a_live_claim_ends_after() -> None:
    s = Story()
    cancelled, expired = s.post("acme", count=2, assignments=3)
    c1 = s.claim(cancelled, "wanda")
    c2 = s.claim(expired, "walt")
    s.close(cancelled)
    s.close(expired, expired=True)
    s.release(c1)
    s.expire_claim(c2)
    store = fold(s)
    assert open_tasks(store) == []
    # Only the counter is kept, far below zero so later releases cannot revive the task.
    assert list(task_slots.read(store, queue.BUCKET, cancelled)) == ["free"]


def test_workers_see_only_tasks_they_qualify_for() -> None:
    s = Story()
    plain = s.post("acme", "p")
    audio = s.advance(1).post("acme", "a", qualifications=("audio",))
    both = s.advance(1).post("acme", "b", qualifications=("audio", "fr"))
    store = fold(s)
    assert candidates(store, "w", []) == plain
    assert candidates(store, "w", ["audio"]) == plain + audio
    assert candidates(store, "w", ["fr", "audio", "de"]) == plain + audio + both
    assert satisfied(["", "a,b", "b"], ["b"]) == ["", "b"]


def test_candidates_merge_queues_by_priority_then_age() -> None:
    s = Story()
    a1 = s.post("acme", "a1", qualifications=("audio",))
    p1 = s.advance(10).post("acme", "p1")
    a2 = s.advance(10).post("acme", "a2", qualifications=("audio",), priority=1)
    p2 = s.advance(10).post("acme", "p2")
    assert candidates(fold(s), "w", ["audio"], limit=3) == a2 + a1 + p1
    assert p2  # fourth, beyond the limit


def test_a_worker_is_never_offered_a_task_it_claimed_before() -> None:
    s = Story()
    first, second = s.post("acme", count=2, assignments=2)
    s.release(s.claim(first, "wanda"))
    store = fold(s)
    assert candidates(store, "wanda", []) == [second]
    assert candidates(store, "walt", []) == [first, second]


def test_candidates_page_deeper_when_the_worker_claimed_the_head_of_the_queue() -> None:
    s = Story()
    # Same instant, same priority: Redis breaks the tie by member, so ids in text order.
    tasks = sorted(s.post("acme", count=120, assignments=2))
    for task in tasks[:100]:
        s.claim(task, "wanda")
    s.post("acme", "other", qualifications=("x",))
    store = fold(s)
    assert candidates(store, "wanda", ["x"], limit=5) == tasks[100:105]
    assert candidates(store, "walt", [], limit=3) == tasks[:3]
    assert candidates(store, "wanda", [], limit=0) == []


def test_no_candidates_from_an_empty_queue() -> None:
    assert candidates(MemoryStore(), "wanda", ["fr"]) == []


def test_redelivered_events_change_nothing() -> None:
    s = Story()
    (task,) = s.post("acme", assignments=3)
    s.claim(task, "wanda")
    store = fold(s)
    before = store.digest(queue.PREFIX)
    assert apply_batch(store, s.records, VIEWS) == 0
    assert store.digest(queue.PREFIX) == before
    assert task_slots.read(store, queue.BUCKET, task)["free"] == "2"


def test_scores_keep_priority_first_and_stay_exact_as_doubles() -> None:
    latest = queue.score(-1_000, 2**42 - 1)
    assert latest < 2**53 and float(latest) == latest
    assert queue.score(1, 2**41) < queue.score(0, 0)
    assert queue.score(5_000, 0) == queue.score(1_000, 0)  # out-of-range priorities clamp


@pytest.mark.parametrize("seed", range(8))
def test_candidates_match_a_brute_force_scan(seed: int) -> None:
    rng = random.Random(seed)
    s = Story()
    for batch in range(30):
        quals = rng.choice([(), (), ("a",), ("b",), ("a", "b"), ("c",)])
        s.advance(rng.randint(0, 3)).post(
            "acme", f"b{batch}", count=rng.randint(1, 40), priority=rng.choice([0, 0, 1, 5]),
            qualifications=quals, assignments=2,
        )  # fmt: skip
    tasks = sorted(s.tasks)
    for task in rng.sample(tasks, len(tasks) // 2):
        s.claim(task, "wanda")
    store = fold(s)
    held = rng.choice([[], ["a"], ["a", "b"], ["b", "c"]])
    limit = rng.choice([1, 5, 30])
    expected = sorted(
        (item[1], item[0])
        for sig in satisfied(store.smembers(queue.SIGS), held)
        for item in store.zrange_many([(queue.open_key(sig), 0, -1)])[0]
        if item[0] not in store.smembers(queue.claimed_key("wanda"))
    )
    assert candidates(store, "wanda", held, limit) == [m for _, m in expected[:limit]]
