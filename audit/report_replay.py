"""`piecework report`'s replay in parallel processes, exact or not at all (audit/parallel.py).

The report folds the power view over the events of its window and its History over every
event up to `until`. Each worker does both for one segment of the log (a partition of the
topic within the parent's cut, or one partition's run of lines of an export) into a
TrackedStore and a History of its own; the parent merges them in log order. The merge is
the serial pass's result when the power view's shared keys (a worker's sums across
requesters, the platform's totals) were only incremented or took disjoint fields, and no
segment looked up a task or a submission another one holds (in a well-formed log a task's
events sit on its requester's partition). Otherwise, and for logs under SERIAL_BELOW
records or one job, it answers None and the caller replays serially.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from audit.parallel import Job, finish, plan, run_pool, segment_items
from audit.tracked_store import TrackedStore, merge
from consumers.engine.runner import fold_log
from consumers.power.report.history import History, in_window, merged
from consumers.stores.memory_store import MemoryStore
from consumers.views import power
from schemas.positions import Positioned

VIEWS = {power.VIEW: power.project}


def fold(items: Iterator[Any], history: History, store: MemoryStore | None, since: int | None,
         until: int | None) -> tuple[MemoryStore, int]:  # fmt: skip
    """The report's one pass: the History over every event, the power view over the
    window's; returns the store and how many records did not decode (skipped)."""
    skipped = 0

    def decoded() -> Iterator[Positioned]:
        nonlocal skipped
        for item in items:
            if type(item) is tuple:
                yield item
            else:
                skipped += 1

    def window(records: Iterator[Positioned]) -> Iterator[Positioned]:
        for record in history.observe(records):
            if in_window(record[2].occurred_at, since, until):
                yield record

    folded = fold_log(window(decoded()), store, views=VIEWS)
    assert isinstance(folded, MemoryStore)
    return folded, skipped


def fold_segment(args: tuple[Job, str, int | None, int | None]) -> tuple:
    """A worker's task (module level: the pool pickles it by name)."""
    job, currency, since, until = args
    items, log = segment_items(job, client="piecework-report")
    history, store = History(currency, since, until), TrackedStore()
    try:
        _, skipped = fold(items, history, store, since, until)
    finally:
        if log is not None:
            log.close()
    return skipped, history, store.shipped()


def replay(
    source: Any, jobs: int, currency: str, since: int | None, until: int | None,
    tick: Callable[[], None] | None = None,
) -> tuple[MemoryStore, History, int] | None:  # fmt: skip
    """(power view store, History, records skipped) as the serial pass gives them, or None:
    replay serially."""
    planned = plan(source, {"grace_ms": 0, "strict": False, "until": until, "groups": ()}, jobs)
    if not planned or len(planned) < 2:
        return None
    parts = run_pool(fold_segment, planned, jobs, tick, (currency, since, until))
    history = merged([h for _, h, _ in parts])
    store = merge([s for _, _, s in parts])
    if history is None or store is None:
        return None
    finish(source)
    return store, history, sum(n for n, _, _ in parts)

