"""listings.page against a set that changes between round trips (found by
tests/e2e/test_listings_scale.py): a page used to read twice, the second time at an
offset counted on the first, so an insert between the reads served the page's last item
twice and a removal of the cursor's own member ended the listing before the set's last
item. A page now reads once from the cursor's score; the reader below writes before
any second read, so a second read would see the change."""

from __future__ import annotations

from consumers.queries import listings as q
from consumers.stores.memory_store import MemoryStore
from consumers.stores.ops import Entry, zadd, zrem

KEY = "pw:batches:tasks:acme:b:submitted"


class WriteBetweenReads:
    """A Reader whose set changes (`op`) just before the second zrange_from of a page:
    what a concurrent views worker can do to Redis between two round trips."""

    def __init__(self, store: MemoryStore, op) -> None:
        self.store, self.op, self.calls, self.offset = store, op, 0, 1_000

    def zrange_from(self, key, min_score, offset, count):
        self.calls += 1
        if self.calls == 2:
            self.store.apply([Entry("pw:test:offsets", 0, self.offset, (self.op,))])
        return self.store.zrange_from(key, min_score, offset, count)


def store_with(*members: tuple[str, int]) -> MemoryStore:
    store = MemoryStore()
    store.apply([Entry("pw:test:offsets", 0, n, (zadd(KEY, s, m),))
                 for n, (m, s) in enumerate(members)])
    return store


def test_a_member_added_between_the_two_reads_is_not_served_twice() -> None:
    store = store_with(("t1", 1), ("t2", 2), ("t3", 3), ("t4", 4), ("t5", 5))
    reader = WriteBetweenReads(store, zadd(KEY, 2, "t2b"))  # a task moves into the status
    items, _ = q.page(reader, KEY, (2, "t2"), 10)  # the page after t2, the last page
    ids = [m for m, _ in items]
    assert len(ids) == len(set(ids)), f"served twice: {ids}"  # was ['t3', 't4', 't5', 't5']


def test_the_last_member_is_served_when_the_cursors_member_leaves_between_the_reads() -> None:
    store = store_with(("t1", 1), ("t2", 2), ("t3", 3), ("t4", 4), ("t5", 5))
    reader = WriteBetweenReads(store, zrem(KEY, "t2"))  # the cursor's task leaves the status
    items, after = q.page(reader, KEY, (2, "t2"), 2)
    assert [m for m, _ in items] == ["t3", "t4"]
    assert after is not None, "t5 never moved, but the listing ends before it"
