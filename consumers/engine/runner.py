"""Feed events to views: project each record with every view, apply in one store call.

Not tied to Faust: the stream agent, the replay and the audit all call `apply_batch`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from consumers.stores.memory_store import MemoryStore
from consumers.stores.ops import Entry, offsets_key
from consumers.stores.store import Store
from consumers.views import registry
from consumers.views.projection import Projection
from schemas.positions import Positioned

# What replay, the audit and the report fold; the live worker feeds every view.
VIEWS: dict[str, Projection] = {view.name: view.project for view in registry.AUDITED}
LIVE_VIEWS: dict[str, Projection] = {view.name: view.project for view in registry.ALL}
BATCH = 500


def entries_for(views: Mapping[str, Projection], records: Iterable[Positioned]) -> list[Entry]:
    """One entry per (view, record), leaving out op-less ones except each partition's last.

    An event a view ignores still has to advance that view's position, but only the
    highest such position per partition matters, so the batch stays small.
    """
    keyed = [(offsets_key(name), project) for name, project in views.items()]
    entries: list[Entry] = []
    last_empty: dict[tuple[str, int], int] = {}
    for partition, position, env in records:
        for key, project in keyed:
            ops = project(env)
            if ops:
                entries.append(Entry(key, partition, position, tuple(ops)))
                last_empty.pop((key, partition), None)
            else:
                last_empty[(key, partition)] = position
    return entries + [Entry(key, p, position, ()) for (key, p), position in last_empty.items()]


def apply_batch(
    store: Store, records: Sequence[Positioned], views: Mapping[str, Projection] = VIEWS
) -> int:
    """Project and apply atomically; returns how many (view, event) entries were new."""
    return store.apply(entries_for(views, records))


def fold_log(
    records: Iterable[Positioned],
    store: Store | None = None,
    views: Mapping[str, Projection] = VIEWS,
    batch: int = BATCH,
) -> Store:
    """Replay a log (a file or a topic read from offset 0) into a store, memory by default."""
    target: Store = MemoryStore() if store is None else store
    pending: list[Positioned] = []
    for record in records:
        pending.append(record)
        if len(pending) >= batch:
            apply_batch(target, pending, views)
            pending = []
    apply_batch(target, pending, views)
    return target


def digests(store: Store, views: Iterable[str] = VIEWS) -> dict[str, str]:
    """Per view named, the digest of its keys: what the audit compares, live and replayed."""
    return {name: store.digest(registry.BY_NAME[name].prefix) for name in views}
