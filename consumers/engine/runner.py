"""Feed events to views: project each record with every view, apply in one store call.

Not tied to Faust: the stream agent, the replay and the audit all call `apply_batch`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from consumers.stores.memory_store import MemoryStore
from consumers.stores.ops import Entry, Op, offsets_key
from consumers.stores.store import Store
from consumers.views import deadlines, ledger, power, queue, tasks_view
from schemas.envelope import EventEnvelope

Projection = Callable[[EventEnvelope], list[Op]]
Record = tuple[int, int, EventEnvelope]  # partition, offset, event

VIEWS: dict[str, Projection] = {
    queue.VIEW: queue.project,
    ledger.VIEW: ledger.project,
    tasks_view.VIEW: tasks_view.project,
    deadlines.VIEW: deadlines.project,
    power.VIEW: power.project,
}
PREFIXES = {name: f"pw:{name}:" for name in VIEWS}
BATCH = 500


def entries_for(views: Mapping[str, Projection], records: Iterable[Record]) -> list[Entry]:
    """One entry per (view, record), leaving out op-less ones except each partition's last.

    An event a view ignores still has to advance that view's offset, but only the highest
    such offset per partition matters, so the batch stays small.
    """
    keyed = [(offsets_key(name), project) for name, project in views.items()]
    entries: list[Entry] = []
    last_empty: dict[tuple[str, int], int] = {}
    for partition, offset, env in records:
        for key, project in keyed:
            ops = project(env)
            if ops:
                entries.append(Entry(key, partition, offset, tuple(ops)))
                last_empty.pop((key, partition), None)
            else:
                last_empty[(key, partition)] = offset
    return entries + [Entry(key, p, offset, ()) for (key, p), offset in last_empty.items()]


def apply_batch(
    store: Store, records: Sequence[Record], views: Mapping[str, Projection] = VIEWS
) -> int:
    """Project and apply atomically; returns how many (view, event) entries were new."""
    return store.apply(entries_for(views, records))


def fold_log(
    records: Iterable[Record],
    store: Store | None = None,
    views: Mapping[str, Projection] = VIEWS,
    batch: int = BATCH,
) -> Store:
    """Replay a log (a file or a topic read from offset 0) into a store, memory by default."""
    target: Store = MemoryStore() if store is None else store
    pending: list[Record] = []
    for record in records:
        pending.append(record)
        if len(pending) >= batch:
            apply_batch(target, pending, views)
            pending = []
    apply_batch(target, pending, views)
    return target


def digests(store: Store, views: Iterable[str] = VIEWS) -> dict[str, str]:
    return {name: store.digest(PREFIXES[name]) for name in views}
