"""The audit's single pass: every record goes to every check and into the replayed views.

Views are folded with `consumers.engine.runner.fold_log`, the code the live worker runs, into a
MemoryStore holding the whole log. For the comparison with the live views, each view must
also be seen at the positions its live copy reached; views whose live positions agree form
a group. A group shares the main store until the first record beyond its positions, then
gets a copy of it and from there only the records within its positions. When the live views
are caught up (the usual case at rest) no record is folded twice.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from audit.checks import Check
from audit.source import Item, Undecodable
from consumers.engine.runner import digests, fold_log
from consumers.stores.memory_store import MemoryStore
from consumers.views import registry
from consumers.views.projection import Projection
from schemas.positions import Positioned

CHUNK = 5_000
TICK_EVERY = 2_048


@dataclass
class _Group:
    views: dict[str, Projection]
    limits: dict[int, int]
    store: MemoryStore | None = None  # None while it still equals the main store
    pending: list[Positioned] = field(default_factory=list)


class Replay:
    def __init__(
        self, checks: Sequence[Check], live_positions: Mapping[str, Mapping[int, int]] | None = None
    ) -> None:
        self.checks = checks
        self.store = MemoryStore()
        self.events = 0
        self.undecodable: list[Undecodable] = []
        self.last_positions: dict[int, int] = {}
        self._pending: list[Positioned] = []
        self._digests: dict[str, str] | None = None
        by_limits: dict[tuple[tuple[int, int], ...], _Group] = {}
        for view, positions in (live_positions or {}).items():
            limits = dict(sorted(positions.items()))
            group = by_limits.setdefault(tuple(limits.items()), _Group({}, limits))
            group.views[view] = registry.BY_NAME[view].project
        self.groups = list(by_limits.values())

    def feed(self, items: Iterable[Item], tick: Callable[[], None] | None = None) -> None:
        observers = [check.observe for check in self.checks]
        shadowing = [g for g in self.groups if g.store is None]
        forked = [g for g in self.groups if g.store is not None]
        pending = self._pending
        for n, item in enumerate(items, 1):
            if tick is not None and n % TICK_EVERY == 0:
                tick()
            if type(item) is not tuple:
                self.undecodable.append(item)  # type: ignore[arg-type]
                continue
            partition, position, env = item
            for observe in observers:
                observe(partition, position, env)
            for group in shadowing:
                if position > group.limits.get(partition, -1):
                    self._flush()  # the group equals the main store up to here
                    group.store = copy.deepcopy(self.store)
                    forked.append(group)
            if len(forked) + len(shadowing) > len(self.groups):
                shadowing = [g for g in shadowing if g.store is None]
            for group in forked:
                if position <= group.limits.get(partition, -1):
                    group.pending.append(item)
            pending.append(item)
            self.last_positions[partition] = position
            if len(pending) >= CHUNK:
                self._flush()
        self._flush()
        if tick is not None:
            tick()

    def _flush(self) -> None:
        self._digests = None
        if self._pending:
            fold_log(self._pending, self.store)
            self.events += len(self._pending)
            self._pending.clear()
        for group in self.groups:
            if group.pending and group.store is not None:
                fold_log(group.pending, group.store, group.views)
                group.pending.clear()

    def digests(self) -> dict[str, str]:
        """Digest of every view of the whole replayed log (computed once: it reads it all)."""
        if self._digests is None:
            self._digests = digests(self.store)
        return self._digests

    def digests_at_live(self) -> dict[str, str]:
        """Digest of each view replayed exactly up to its live positions."""
        found: dict[str, str] = {}
        for group in self.groups:
            if group.store is None:  # never forked: the whole log is within its positions
                found.update({view: self.digests()[view] for view in group.views})
            else:
                found.update(digests(group.store, group.views))
        return found
