"""An immutable set that only grows, with O(1) `add` along a linear history.

Aggregates remember every batch id, credited event and claimer forever; copying a
frozenset on each event would make rebuilding a busy aggregate quadratic. Versions share
one insertion-ordered dict {member: position}; a version sees the members whose position
is below its size. Adding to the newest version appends in place (no older version can see
the new member); adding to an older version copies its prefix first. Every version keeps
answering the same, so states holding one stay immutable values.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from itertools import islice


class GrowSet:
    __slots__ = ("_log", "_size")

    def __init__(self, members: Iterable[Hashable] = ()) -> None:
        self._log: dict[Hashable, int] = {}
        for member in members:
            self._log.setdefault(member, len(self._log))
        self._size = len(self._log)

    def __contains__(self, item: object) -> bool:
        position = self._log.get(item)  # type: ignore[call-overload]
        return position is not None and position < self._size

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Hashable]:
        return islice(self._log, self._size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GrowSet | set | frozenset):
            return NotImplemented
        return len(self) == len(other) and all(m in other for m in self)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"GrowSet({list(self)!r})"

    def add(self, item: Hashable) -> GrowSet:
        """A new version with `item`; this one is unchanged."""
        if item in self:
            return self
        log = self._log
        if not self._size:  # an empty set may be shared: never write into its dict
            log = {}
        elif len(log) != self._size:  # branching from an older version
            log = dict(islice(log.items(), self._size))
        log[item] = self._size
        grown = GrowSet.__new__(GrowSet)
        grown._log, grown._size = log, self._size + 1
        return grown
