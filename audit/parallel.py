"""The audit's replay in parallel processes: one segment of the log per task, merged after.

A segment is one partition (a topic, read within the parent's consistent cut) or one run
of a partition's consecutive lines (an export file, a byte range). Each worker reads and
decodes its segment, feeds the audit's five checks, folds the views into a TrackedStore and
(live) checks the partition's hash chain; it sends back the checks' state and the store,
not the events. The parent merges them in log order, which is exact because every check's
state and every view key belongs to one partition in a well-formed log: aggregates, reviews,
wallets and sequences sit on one partition, event ids are unique, views' shared keys
(the ledger's totals, a worker's power sums) only take increments or disjoint members.

Whenever the merge cannot prove it equals the serial pass (an aggregate or an event id on
two partitions, two segments writing one field, a file whose partitions interleave, live
an order only a serial pass reproduces) it says so (None) and the caller replays serially, so the
report is always the serial one. Logs below SERIAL_BELOW records are replayed serially:
starting processes costs more than they save there.
"""

from __future__ import annotations

import copy
import gc
import multiprocessing
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from audit.chain_check import ChainCheck
from audit.checks import MAX_LISTED, Problems, aggregates, credits, ids, sequences, wallets
from audit.source import (
    FileLog,
    Item,
    KafkaLog,
    ListLog,
    Undecodable,
    file_range,
    up_to,
)
from audit.tracked_store import TrackedStore, merge
from consumers.engine.runner import digests, fold_log
from consumers.stores.memory_store import MemoryStore
from consumers.views import registry
from consumers.views.projection import Projection
from schemas.chain import decode_header, digest, header_of

# Below this many records (topic) or lines (file) a serial replay is faster: forking the
# workers and shipping their stores back costs ~0.2-0.5 s (bench/parallel_replay.py).
SERIAL_BELOW = 20_000
CHUNK = 5_000


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class Job:
    """One segment and how to read it (kind: kafka, file or list)."""

    kind: str
    partition: int
    grace_ms: int
    strict: bool
    until: int | None
    groups: tuple[tuple[dict[int, int], tuple[str, ...]], ...]  # live positions, their views
    bootstrap: str = ""
    topic: str = ""
    begin: int = 0
    end: int = 0
    chain: bool = False
    path: str = ""
    start: int = 0  # bytes
    stop: int = 0
    first_line: int = 1
    items: list[Item] = field(default_factory=list)


@dataclass
class Segment:
    """What a worker sends back."""

    events: int
    undecodable: list[Undecodable]
    last_positions: dict[int, int]
    ids: ids.UniqueIds
    sequences: sequences.Sequences
    agg_problems: Problems
    invariants: dict[int, list[str]]
    held: dict[str, dict[str, int]]
    credits: credits.Credits
    wallets: wallets.Wallets
    store: tuple
    chain: ChainCheck | None
    # Per group of live views, its store if a record went past its positions (None: the
    # segment's store is the group's too), as audit.replay.Replay forks them.
    groups: list[tuple | None]


def _file_items(job: Job) -> Iterator[Item]:
    return file_range(job.path, job.start, job.stop, job.first_line)


def _kafka_items(job: Job, chain: ChainCheck | None,
                 client: str) -> tuple[Iterator[Item], KafkaLog]:  # fmt: skip
    log = KafkaLog(job.bootstrap, job.topic, f"{client}-{job.partition}",
                   cut=({job.partition: job.begin}, {job.partition: job.end}))  # fmt: skip
    if chain is not None:
        def feed(record: Any) -> None:
            raw = header_of(record.headers)
            chain.feed(record.partition, record.offset, digest(record.value or b""),
                       decode_header(raw) if raw is not None else None)  # fmt: skip

        log.on_record = feed
    return log.items(job.until), log


def segment_items(
    job: Job, chain: ChainCheck | None = None, client: str = "piecework-audit"
) -> tuple[Iterator[Item], KafkaLog | None]:
    """A segment's items up to `job.until`, and the Kafka log to close after (or None)."""
    if job.kind == "kafka":
        return _kafka_items(job, chain, client)
    if job.kind == "file":
        return up_to(_file_items(job), job.until), None
    return up_to(iter(job.items), job.until), None


@dataclass
class _Group:
    limits: dict[int, int]
    views: dict[str, Projection]
    store: TrackedStore | None = None
    pending: list[Item] = field(default_factory=list)


def replay_segment(job: Job) -> Segment:
    """A worker's whole task (module level: the pool pickles it by name)."""
    ids_, seq, aggs = ids.UniqueIds(), sequences.Sequences(), aggregates.Aggregates()
    cred, wal = credits.Credits(job.grace_ms, job.strict, job.until), wallets.Wallets()
    observers = [check.observe for check in (ids_, seq, aggs, cred, wal)]
    chain = ChainCheck() if job.chain else None
    items, log = segment_items(job, chain)
    store, pending = TrackedStore(), []
    events, undecodable, last = 0, [], {}
    groups = [_Group(limits, {v: registry.BY_NAME[v].project for v in views})
              for limits, views in job.groups]  # fmt: skip
    try:
        for item in items:
            if type(item) is not tuple:
                undecodable.append(item)
                continue
            partition, position, env = item
            for observe in observers:
                observe(partition, position, env)
            for group in groups:  # the group's store holds the records within its positions
                if group.store is None:
                    if position > group.limits.get(partition, -1):
                        fold_log(pending, store)  # equal to the main store up to here
                        events += len(pending)
                        pending.clear()
                        group.store = copy.deepcopy(store)
                elif position <= group.limits.get(partition, -1):
                    group.pending.append(item)
            pending.append(item)
            last[partition] = position
            if len(pending) >= CHUNK:
                fold_log(pending, store)
                events += len(pending)
                pending.clear()
        fold_log(pending, store)
        events += len(pending)
        for group in groups:
            if group.store is not None:
                fold_log(group.pending, group.store, group.views)
    finally:
        if log is not None:
            log.close()
    invariants = {p: list(s.check_invariants()) for p, s in aggs.shards.items()}
    held = aggs.held()
    aggs.shards = {}  # not shipped: their summaries are
    return Segment(events, undecodable, last, ids_, seq, aggs.problems, invariants, held,
                   cred, wal, store.shipped(), chain,
                   [None if g.store is None else g.store.shipped() for g in groups])  # fmt: skip


# --- planning: which segments, or None for a serial replay ---------------------------

_PARTITION = re.compile(rb'\{"partition":\s*(\d+)\s*,')


def file_runs(path: Path) -> list[tuple[int, int, int, int]] | None:
    """(partition, start byte, stop byte, first line number) of each run of one partition's
    lines; None if a partition's lines are not consecutive (a serial replay then)."""
    runs: list[list[int]] = []
    at, number = 0, 1
    with path.open("rb") as f:
        for line in f:
            found = _PARTITION.match(line)
            p = int(found.group(1)) if found else None
            if p is not None and (not runs or runs[-1][0] != p):
                runs.append([p, at, at, number])
            if runs:
                runs[-1][2] = at + len(line)
            elif line.strip():  # before any placed line: leave the file to the serial pass
                return None
            at += len(line)
            number += 1
    partitions = [r[0] for r in runs]
    if len(set(partitions)) != len(partitions):
        return None
    return [(p, start, stop, first) for p, start, stop, first in runs]


def plan(source: Any, base: Mapping[str, Any], jobs: int) -> list[Job] | None:
    if jobs < 2:
        return None
    if isinstance(source, KafkaLog):
        if source.total < SERIAL_BELOW:
            return None
        return [Job("kafka", p, **base, bootstrap=source.bootstrap, topic=source.topic,
                    begin=source.begin[p], end=source.end[p], chain=source.chain is not None)
                for p in source.partitions if source.end[p] > source.begin[p]]  # fmt: skip
    if isinstance(source, FileLog):
        if source.total < SERIAL_BELOW * 300:  # ~300 bytes an event line
            return None
        runs = file_runs(source.path)
        if runs is None:
            return None
        return [Job("file", p, **base, path=str(source.path), start=start, stop=stop,
                    first_line=first) for p, start, stop, first in runs]  # fmt: skip
    if isinstance(source, ListLog):
        if len(source.list) < SERIAL_BELOW:
            return None
        runs_of: list[list[Item]] = []
        for item in source.list:
            if not runs_of or runs_of[-1][0][0] != item[0]:
                runs_of.append([])
            runs_of[-1].append(item)
        if len({r[0][0] for r in runs_of}) != len(runs_of):
            return None
        return [Job("list", r[0][0], **base, items=r) for r in runs_of]
    return None


# --- merging ---------------------------------------------------------------------------


def _problems(parts: Sequence[Problems]) -> Problems:
    """The serial pass's capped list: the segments' lists in log order (a segment that
    listed fewer than it counted already filled the cap, so nothing after it is listed)."""
    out = Problems()
    for part in parts:
        for message in part.listed:
            if len(out.listed) < MAX_LISTED:
                out.listed.append(message)
        out.count += part.count
    return out


def _disjoint(*maps: Any) -> bool:
    total = sum(len(m) for m in maps)
    return len(set().union(*maps)) == total


class MergedAggregates:
    name, invariant = aggregates.Aggregates.name, aggregates.Aggregates.invariant

    def __init__(self, segments: Sequence[Segment]) -> None:
        self.problems = _problems([s.agg_problems for s in segments])
        self.invariants: dict[int, list[str]] = {}
        self.sums: dict[str, dict[str, int]] = {}
        for s in segments:
            self.invariants.update(s.invariants)
            for currency, held in s.held.items():
                mine = self.sums.setdefault(currency, {})
                for name, amount in held.items():
                    mine[name] = mine.get(name, 0) + amount

    def violations(self) -> list[str]:
        final = Problems()
        final.extend(self.problems.sentences())
        for partition, found in sorted(self.invariants.items()):
            final.extend(f"partition {partition}: {v}" for v in found)
        return final.sentences()

    def held(self) -> dict[str, dict[str, int]]:
        return {currency: self.sums[currency] for currency in sorted(self.sums)}


def merge_checks(segments: Sequence[Segment], base: Mapping[str, Any]) -> list[Any] | None:
    """The five checks as one serial pass would have left them, or None."""
    if not _disjoint(*(s.invariants for s in segments)):  # a partition's shard in two
        return None  # segments (a file line its run's pre-scan did not place)
    if not _disjoint(*(s.ids.seen for s in segments)):
        return None
    if not _disjoint(*(s.sequences.last for s in segments)):
        return None
    if not _disjoint(*(s.credits.reviews for s in segments)):
        return None
    if not _disjoint(*(s.wallets.balance for s in segments)):
        return None
    unique = ids.UniqueIds()
    seq = sequences.Sequences()
    cred = credits.Credits(base["grace_ms"], base["strict"], base["until"])
    wal = wallets.Wallets()
    for s in segments:
        unique.seen.update(s.ids.seen)
        seq.last.update(s.sequences.last)
        cred.owed.update(s.credits.owed)
        cred.reviews.update(s.credits.reviews)
        cred.latest = max(cred.latest, s.credits.latest)
        for source, got in s.credits.credits.items():
            cred.credits.setdefault(source, []).extend(got)
        wal.balance.update(s.wallets.balance)
    unique.problems = _problems([s.ids.problems for s in segments])
    seq.problems = _problems([s.sequences.problems for s in segments])
    cred.problems = _problems([s.credits.problems for s in segments])
    wal.problems = _problems([s.wallets.problems for s in segments])
    return [unique, seq, MergedAggregates(segments), cred, wal]


class MergedReplay:
    """What audit.run reads of a Replay, from merged segments."""

    def __init__(self, segments: Sequence[Segment], store: MemoryStore,
                 at_live: dict[str, str], caught_up: Sequence[str]) -> None:  # fmt: skip
        self.store = store
        self._at_live, self._caught_up = at_live, caught_up
        self.events = sum(s.events for s in segments)
        self.undecodable = [u for s in segments for u in s.undecodable]
        self.last_positions = {p: o for s in segments for p, o in s.last_positions.items()}
        self._digests: dict[str, str] | None = None

    def digests(self) -> dict[str, str]:
        if self._digests is None:
            self._digests = digests(self.store)
        return self._digests

    def digests_at_live(self) -> dict[str, str]:
        """Views behind the log end digested from their own merged stores; the others
        are at the end, where the whole replay is."""
        return {**{view: self.digests()[view] for view in self._caught_up}, **self._at_live}


def replay(
    source: Any, jobs: int, base: dict[str, Any],
    live_offsets: Mapping[str, Mapping[int, int]] | None,
    tick: Callable[[], None] | None = None,
) -> tuple[MergedReplay, list[Any]] | None:  # fmt: skip
    """The merged replay and checks, or None: replay serially (tiny log, one job, or a log
    the merge cannot reproduce exactly)."""
    by_limits: dict[tuple[tuple[int, int], ...], list[str]] = {}
    for view, positions in (live_offsets or {}).items():  # as audit.replay.Replay groups
        by_limits.setdefault(tuple(sorted(positions.items())), []).append(view)
    groups = tuple((dict(limits), tuple(views)) for limits, views in by_limits.items())
    planned = plan(source, {**base, "groups": groups}, jobs)
    if not planned or len(planned) < 2:
        return None
    segments = run_pool(replay_segment, planned, jobs, tick)
    folds = merge_checks(segments, base)
    store = merge([s.store for s in segments])
    if folds is None or store is None:
        return None
    at_live: dict[str, str] = {}
    caught_up: list[str] = []
    for i, (_, views) in enumerate(groups):
        if all(s.groups[i] is None for s in segments):
            caught_up.extend(views)
            continue
        behind = merge([s.store if s.groups[i] is None else s.groups[i] for s in segments])
        if behind is None:
            return None
        at_live.update(digests(behind, views))
    chain = getattr(source, "chain", None)
    if chain is not None:
        _merge_chains(chain, [s.chain for s in segments if s.chain is not None])
    finish(source)
    return MergedReplay(segments, store, at_live, caught_up), folds


def finish(source: Any) -> None:
    """The parent's source read to its end, as its progress bar should say."""
    if isinstance(source, KafkaLog):
        source._finished, source._current = source.total, (0, 0)
    elif isinstance(source, FileLog):
        source.done = source.total


T = TypeVar("T")


def fork_pool(jobs: int) -> Any:
    """A pool of forked workers (they inherit the loaded modules). Frozen, the parent's heap
    is not walked by the workers' collections (nor copied page by page as the walk touches
    it); the parent unfreezes once they are started."""
    gc.freeze()
    try:
        return multiprocessing.get_context("fork").Pool(jobs)
    finally:
        gc.unfreeze()


def run_pool(
    work: Callable[[Any], T], planned: Sequence[Job], jobs: int,
    tick: Callable[[], None] | None = None, extra: tuple | None = None,
) -> list[T]:  # fmt: skip
    """`work` of every segment (of `(job, *extra)` with `extra`) in forked processes, the
    results in log order. Largest segments first (partitions differ several-fold in
    size): the last one to finish is then a small one."""
    order = sorted(range(len(planned)), key=lambda i: -_size(planned[i]))
    tasks = [planned[i] if extra is None else (planned[i], *extra) for i in order]
    found: dict[int, T] = {}
    with fork_pool(min(jobs, len(planned))) as pool:
        for i, result in zip(order, pool.imap(work, tasks), strict=True):
            found[i] = result
            if tick is not None:
                tick()
    return [found[i] for i in range(len(planned))]


def _size(job: Job) -> int:
    return {"kafka": job.end - job.begin, "file": job.stop - job.start}.get(job.kind,
                                                                           len(job.items))


def _merge_chains(into: ChainCheck, parts: Sequence[ChainCheck]) -> None:
    """Each partition's chain lives in one segment: the parts only add up."""
    for part in parts:
        into.partitions.update(part.partitions)
        into.records += part.records
        into.breaks += part.breaks
        into.unchained += part.unchained
        into.order.extend(part.order)
