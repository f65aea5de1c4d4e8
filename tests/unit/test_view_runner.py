"""The runner: every view fed from one batch, positions advanced, replay order-proof."""

from __future__ import annotations

import random

import pytest

from consumers.engine.runner import (
    LIVE_VIEWS,
    VIEWS,
    apply_batch,
    digests,
    entries_for,
    fold_log,
)
from consumers.stores.memory_store import MemoryStore
from consumers.stores.ops import offsets_key
from consumers.views import ledger, queue, registry
from tests.view_story import Story, full_story


def test_events_a_view_ignores_still_advance_its_position_once_per_partition() -> None:
    s = Story()
    s.deposit("acme", 10)
    s.deposit("acme", 20)
    entries = entries_for({queue.VIEW: queue.project}, s.records)
    partition = s.records[0][0]
    assert [(e.partition, e.position, e.ops) for e in entries] == [(partition, 1, ())]
    store = MemoryStore()
    apply_batch(store, s.records, {queue.VIEW: queue.project, ledger.VIEW: ledger.project})
    assert store.offsets(offsets_key(queue.VIEW)) == {partition: 1}
    assert store.offsets(offsets_key(ledger.VIEW)) == {partition: 1}


def test_batch_size_does_not_change_the_views() -> None:
    records = full_story().records
    expected = digests(fold_log(records, batch=len(records)))
    assert digests(fold_log(records, batch=1)) == expected
    assert digests(fold_log(records, batch=4)) == expected


def test_a_batch_overlapping_what_was_applied_applies_only_the_new_part() -> None:
    records = full_story().records
    whole = fold_log(records)
    store = fold_log(records[:12])
    assert apply_batch(store, records[5:]) > 0
    assert digests(store) == digests(whole)
    assert apply_batch(store, records) == 0


@pytest.mark.parametrize("seed", range(5))
def test_every_view_is_independent_of_how_partitions_interleave(seed: int) -> None:
    records = full_story().records
    queues: dict[int, list] = {}
    for record in records:
        queues.setdefault(record[0], []).append(record)
    rng, mixed = random.Random(seed), []
    while queues:
        partition = rng.choice(sorted(queues))
        mixed.append(queues[partition].pop(0))
        queues = {p: rs for p, rs in queues.items() if rs}
    assert digests(fold_log(mixed, batch=3)) == digests(fold_log(records))


def test_every_registered_view_is_fed_and_digested_in_registry_order() -> None:
    names = [view.name for view in registry.ALL]
    assert names == ["queue", "ledger", "tasks", "deadlines", "power", "batches", "groups",
                     "feed"]
    assert list(LIVE_VIEWS) == names
    audited = [view.name for view in registry.AUDITED]
    assert audited == names[:-1]  # the feed is a window of copies of events: not audited
    assert list(VIEWS) == audited
    assert list(digests(MemoryStore())) == audited


def test_a_view_prefix_is_derived_from_its_name() -> None:
    # the stored positions `pw:{name}:offsets` must sit under the prefix the digest covers
    with pytest.raises(ValueError, match="prefix"):
        registry.View("queue", "pw:q:", queue.project, "queue under another prefix")
