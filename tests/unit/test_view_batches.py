"""Batches view and its cursor-paged reads: given events, then the sets and the pages."""

from __future__ import annotations

import random

import pytest

from consumers.engine.runner import fold_log
from consumers.queries import listings as q
from consumers.stores.memory_store import MemoryStore
from consumers.stores.ops import Entry, hset_many, zadd, zrem
from consumers.views import batches as bv
from consumers.views import registry
from consumers.views import tasks_view as tv
from tests.view_story import T0, Story

VIEWS = {bv.VIEW: bv.project, tv.VIEW: tv.project}


def fold(story: Story) -> MemoryStore:
    store = fold_log(story.records, views=VIEWS)
    assert isinstance(store, MemoryStore)
    return store


def members(store: MemoryStore, key: str) -> list[str]:
    return [m for m, _ in store.zrange_from(key, -(2**53), 0, 10**9)]


def test_the_view_is_registered_under_its_prefix() -> None:
    assert registry.BY_NAME["batches"].prefix == bv.PREFIX


def test_chunks_group_under_the_requesters_batch() -> None:
    assert bv.group_of("b.0") == ("b", 0) and bv.group_of("b.12") == ("b", 12)
    assert bv.group_of("plain") == ("plain", 0) and bv.group_of("v1.2.3") == ("v1.2", 3)
    assert bv.task_score("acme:b.1:0") > bv.task_score("acme:b.0:499")
    assert bv.task_score("acme:b.0:10") > bv.task_score("acme:b.0:9")  # numeric, not text


def test_a_posted_batch_lists_newest_first_with_its_counters() -> None:
    s = Story()
    s.post("acme", "old.0", count=2)
    s.advance(1_000).post("acme", "new.0", count=3)
    s.post("acme", "new.1", count=2)
    s.post("zed", "other.0", count=1)
    store = fold(s)
    rows, after = q.batches_page(store, "acme", None, 10)
    assert after is None and [r["batch_id"] for r in rows] == ["new", "old"]
    assert rows[0]["tasks"] == 5 and rows[0]["chunks"] == 2 and rows[0]["posted_at"] == T0 + 1000
    assert rows[0]["escrow"] == 5 * 60_000 and rows[0]["spend"] == 0
    assert [r["task_id"] for r in q.batch_tasks_page(store, "acme", "new", None, None, 10)[0]] == [
        "acme:new.0:0", "acme:new.0:1", "acme:new.0:2", "acme:new.1:0", "acme:new.1:1"]
    assert q.batch_progress(store, "zed", "new") is None  # another requester's: unknown


def test_a_task_moves_between_status_sets() -> None:
    s = Story()
    a, b, c, d, e = s.post("acme", "b.0", count=5)
    s.approve(s.submit(s.claim(a, "w1")))
    s.reject(s.submit(s.claim(b, "w2")))
    s.release(s.claim(c, "w3"))
    s.claim(d, "w4")
    s.close(e)
    store = fold(s)
    progress = q.batch_progress(store, "acme", "b")
    assert progress is not None
    assert progress["status_counts"] == {"open": 1, "claimed": 1, "submitted": 0, "approved": 1,
                                         "rejected": 1, "expired": 0, "cancelled": 1}
    assert members(store, bv.tasks_key("acme", "b", "open")) == [c]
    assert progress["approved"] == 1 and progress["rejected"] == 1 and progress["claims"] == 4
    assert progress["spend"] == 60_000 and progress["escrow"] == 2 * 60_000  # c open, d claimed
    rows, _ = q.batch_tasks_page(store, "acme", "b", "approved", None, 10)
    assert rows[0]["task_id"] == a and rows[0]["reward"] == 50_000
    assert rows[0]["payload"] == {"url": "https://example.org/1.png"}


def test_the_review_queue_follows_reviews_and_overturns() -> None:
    s = Story()
    tasks = s.post("acme", "b.0", count=4)
    subs = [s.advance(10).submit(s.claim(t, f"w{i}"), {"n": i}) for i, t in enumerate(tasks)]
    s.approve(subs[0])
    s.reject(subs[1])
    s.overturn(subs[1])
    store = fold(s)
    queue, after = q.submissions_page(store, "acme", "submitted", None, None, 10)
    assert [r["submission_id"] for r in queue] == subs[2:] and after is None
    assert queue[0]["answer"] == {"n": 2} and isinstance(queue[0]["submitted_at"], int)
    over, _ = q.submissions_page(store, "acme", "overturned", "b", None, 10)
    assert [r["submission_id"] for r in over] == [subs[1]]
    assert q.submissions_page(store, "acme", "rejected", "b", None, 10)[0] == []
    with pytest.raises(q.BadQuery):
        q.submissions_page(store, "acme", "approved", None, None, 10)
    rows = list(q.results(store, "acme", "b", page_size=2))
    assert [r["submission_id"] for r in rows] == subs
    assert rows[1]["status"] == "overturned" and rows[1]["answer"] == {"n": 1}


def _zset(store: MemoryStore, key: str, scored: list[tuple[int, str]]) -> None:
    ops = tuple(zadd(key, score, m) for score, m in scored) + tuple(hset_many("pw:x:h", {"a": 1}))
    store.apply([Entry("pw:x:offsets", 0, 1, ops)])


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 50])
def test_pages_cover_every_member_once_even_with_tied_scores(limit: int) -> None:
    store = MemoryStore()
    scored = [(i // 4, f"m{i:03}") for i in range(40)]  # four members per score
    _zset(store, "pw:x:z", scored)
    seen, cursor = [], None
    while True:
        items, after = q.page(store, "pw:x:z", cursor, limit)
        seen += [m for m, _ in items]
        if after is None:
            break
        cursor = q.decode_cursor(after)
    assert seen == [m for _, m in scored]


def test_pages_stay_exact_when_members_come_and_go() -> None:
    store = MemoryStore()
    _zset(store, "pw:x:z", [(i, f"m{i:03}") for i in range(0, 100, 2)])
    first, after = q.page(store, "pw:x:z", None, 10)
    # Between pages: remove some served and unserved members, add new ones on both sides.
    moves = (zrem("pw:x:z", "m000"), zrem("pw:x:z", "m030"), zadd("pw:x:z", 1, "m001"),
             zadd("pw:x:z", 51, "m051"))
    store.apply([Entry("pw:x:offsets", 0, 2, moves)])
    cursor = q.decode_cursor(after)
    rest = []
    while cursor is not None:
        items, nxt = q.page(store, "pw:x:z", cursor, 10)
        rest += [m for m, _ in items]
        cursor = q.decode_cursor(nxt)
    served = [m for m, _ in first] + rest
    assert len(served) == len(set(served)) and "m051" in rest and "m001" not in served
    assert "m030" not in served and "m018" in served


def test_bad_cursors_and_limits_are_refused() -> None:
    for text in ("nope", "!!!", q.encode_cursor(1, "x")[:-2] + "zz", "e30"):
        with pytest.raises(q.BadQuery):
            q.decode_cursor(text)
    assert q.decode_cursor(q.encode_cursor(5, "a:b")) == (5, "a:b")
    assert q.parse_limit(None) == 100 and q.parse_limit("1000") == 1000
    for text in ("0", "1001", "-1", "x", "1e3"):
        with pytest.raises(q.BadQuery):
            q.parse_limit(text)


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 50])
def test_merged_pages_of_disjoint_sets_are_the_pages_of_their_union(limit: int) -> None:
    store, union = MemoryStore(), "pw:x:all"
    scored = [(i // 4, f"m{i:03}") for i in range(60)]  # ties across and within sets
    rng = random.Random(limit)
    parts = {f"pw:x:s{k}": [] for k in range(7)}
    for item in scored:
        parts[f"pw:x:s{rng.randrange(5)}"].append(item)  # two sets stay empty
    parts[union] = scored
    ops = tuple(zadd(key, score, m) for key, items in parts.items() for score, m in items)
    store.apply([Entry("pw:x:offsets", 0, 1, ops)])
    del parts[union]
    cursor, want = None, None
    while True:
        got = q.merged_page(store, list(parts), cursor, limit)
        assert got == q.page(store, union, want, limit)
        if got[1] is None:
            break
        cursor = want = q.decode_cursor(got[1])


def test_a_batch_listing_serves_a_task_once_while_it_moves_between_statuses() -> None:
    s = Story()
    tasks = s.post("acme", "b.0", count=9)
    store = fold(s)
    first, after = q.batch_tasks_page(store, "acme", "b", None, None, 4)
    s.claim(tasks[1], "w1")  # served already: moves to another set, not served again
    s.claim(tasks[6], "w2")  # not served yet: moves to another set, served once
    store = fold(s)
    rest, cursor = [], q.decode_cursor(after)
    while cursor is not None:
        rows, nxt = q.batch_tasks_page(store, "acme", "b", None, cursor, 4)
        rest += rows
        cursor = q.decode_cursor(nxt)
    assert [r["task_id"] for r in first + rest] == tasks
    claimed, _ = q.batch_tasks_page(store, "acme", "b", "claimed", None, 4)
    assert [r["task_id"] for r in claimed] == [tasks[1], tasks[6]]
