"""The feed view and its reader over the memory store: each actor gets its own events,
cursors page every event exactly once in log order per partition, old cursors expire."""

from __future__ import annotations

import pytest

from consumers.engine.runner import LIVE_VIEWS, fold_log
from consumers.queries import feed as reader
from consumers.stores.memory_store import MemoryStore
from consumers.views import feed
from tests.view_story import PARTITIONS, Story, full_story


def _all(store: MemoryStore, actor: str, limit: int, after: str | None = None,
         types: frozenset[str] | None = None) -> tuple[list[reader.FeedItem], str]:  # fmt: skip
    items: list[reader.FeedItem] = []
    while True:
        page, after, more = reader.read_page(store, actor, after, limit, PARTITIONS, types)
        items += page
        if not more:
            return items, after


def _expected(story: Story, actor: str) -> list[tuple[int, int, str]]:
    return [(p, offset, env.event_id) for p, offset, env in story.records
            if actor in feed.concerned(env.event) and env.event.__class__ not in feed.LEFT_OUT]


@pytest.mark.parametrize("limit", [1, 2, 3, 100])
def test_each_actor_reads_exactly_its_events_in_log_order_per_partition(limit: int) -> None:
    story = full_story()
    store = fold_log(story.records, views=LIVE_VIEWS)
    for actor in ("acme", "zeta", "wanda", "walt"):
        items, _ = _all(store, actor, limit)
        expected = _expected(story, actor)
        assert sorted(i.id for i in items) == sorted(e for _, _, e in expected), actor
        for p in range(PARTITIONS):
            assert [i.id for i in items if i.partition == p] == [
                e for q, _, e in expected if q == p], (actor, p)
    assert _all(store, "nobody", 10)[0] == []


def test_an_item_carries_the_event_without_its_answer_or_payload() -> None:
    story = full_story()
    store = fold_log(story.records, views=LIVE_VIEWS)
    items, _ = _all(store, "acme", 100)
    submitted = next(i for i in items if i.type == "WorkSubmitted")
    assert "answer" not in submitted.data and submitted.data["worker_id"] == "wanda"
    assert not any(i.type == "TaskPosted" for i in items)
    assert any(i.type == "BatchPosted" for i in items)
    assert all(isinstance(i.at, int) and i.at > 0 for i in items)


def test_a_cursor_resumes_after_its_item_while_events_keep_arriving() -> None:
    story = Story()
    story.deposit("acme", 10_000_000)
    store = MemoryStore()
    fold_log(story.records, store, views=LIVE_VIEWS)
    seen, after = _all(store, "acme", 2)
    tasks = story.post("acme", "b1", count=4)
    for n, task in enumerate(tasks):
        claim = story.advance(1_000).claim(task, f"w{n}")
        story.submit(claim)
    fold_log(story.records, store, views=LIVE_VIEWS)  # redelivery of the first ones: no-op
    more, _ = _all(store, "acme", 3, after)
    assert [i.id for i in seen + more] == [e for _, _, e in _expected(story, "acme")]
    resumed = reader.read_page(store, "acme", seen[0].cursor, 100, PARTITIONS)[0]
    assert [i.id for i in resumed] == [i.id for i in (seen + more)[1:]]


def test_types_filter_and_the_cursor_still_moves_past_the_others() -> None:
    store = fold_log(full_story().records, views=LIVE_VIEWS)
    wanted = frozenset({"SubmissionApproved", "RejectionOverturned"})
    items, after = _all(store, "wanda", 1, types=wanted)
    assert {i.type for i in items} == wanted
    assert reader.read_page(store, "wanda", after, 100, PARTITIONS)[0] == []


def test_latest_starts_after_the_newest_event() -> None:
    story = full_story()
    store = fold_log(story.records, views=LIVE_VIEWS)
    latest = reader.latest_cursor(store, "wanda", PARTITIONS)
    assert reader.read_page(store, "wanda", latest, 100, PARTITIONS) == ([], latest, False)
    story.payout("wanda", 1)
    fold_log(story.records, store, views=LIVE_VIEWS)
    assert [i.type for i in reader.read_page(store, "wanda", latest, 100, PARTITIONS)[0]] == [
        "PayoutIssued"]


def test_past_the_window_old_cursors_expire_and_new_ones_work(monkeypatch) -> None:
    monkeypatch.setattr(feed, "KEEP", 3)
    story = Story()
    for _ in range(5):
        story.deposit("acme", 1_000)
    store = fold_log(story.records, views=LIVE_VIEWS)
    items, _ = _all(store, "acme", 10)
    assert len(items) == 3  # the two oldest were dropped
    with pytest.raises(reader.CursorExpired):
        reader.read_page(store, "acme", reader.encode_cursor([0] * PARTITIONS), 10, PARTITIONS)
    assert reader.read_page(store, "acme", items[0].cursor, 10, PARTITIONS)[0] == items[1:]


@pytest.mark.parametrize("text", ["x", "v1.!", "v1." + ".".join(["1"] * (PARTITIONS + 1)),
                                  "v1.-1", "v1.01", "v1." + "z" * 20, "v1" + "." * 500])
def test_a_cursor_we_did_not_issue_is_refused(text: str) -> None:
    with pytest.raises(reader.BadCursor):
        reader.decode_cursor(text, PARTITIONS)


def test_cursors_round_trip() -> None:
    for positions in ([-1, -1, -1], [0, 5, -1], [2**53 - 1, 0, 36**5]):
        assert reader.decode_cursor(reader.encode_cursor(positions), 3) == positions
