"""A MemoryStore that remembers what each op touched, so stores folded apart can be merged.

The parallel replay (audit/parallel.py) folds each log segment into its own store. Two
segments' stores merge exactly when no field or member was written by both, except hash
fields only ever HINCRBY'd (increments commute: they are summed) and set members only
ever SADDed, and no key one segment READ (ZSYNC's meta hash, ZMIN's hash, a group's tally,
HSETSHARED's hash) was touched by another: there the order of the segments would matter.
`merge` checks that and says None otherwise; the caller then replays serially.

Only the ops that do not commute are recorded as they run: what HINCRBY and SADD touched
is read off the store at the merge (a field or member they left that is gone was removed
by a recorded op), so the tracking costs a worker little beyond its store.
"""

from __future__ import annotations

from collections.abc import Sequence

from consumers.stores.memory_store import Container, MemoryStore, ZSet
from consumers.stores.ops import Entry, Op, is_offsets_key

# Per op that writes what its arguments name: where its fields or members start, and the
# step between them. HINCRBY and SADD are not marked: they commute, and what they touched
# is what the store holds (a field or member they left that is gone was removed by a
# marked op); that is most ops, so a worker tracks little.
_NAMES: dict[str, tuple[int, int | None, int]] = {
    "HSET": (2, None, 2), "HSETNX": (2, 3, 1), "HDEL": (2, None, 1), "SREM": (2, 3, 1),
    "ZADD": (3, 4, 1), "ZREM": (2, 3, 1),
}  # fmt: skip


class TrackedStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        # key -> fields or members some op other than HINCRBY and SADD wrote or removed
        self.written: dict[str, set[str]] = {}
        self.reads: set[str] = set()  # keys whose content an op read
        # Top-level ZADD and ZREM are marked in `apply`, with the other ops; the overrides
        # below mark the ones ZSYNC, ZMIN and FEED make at keys read from the store.
        self._run["ZADD"] = super()._zadd
        self._run["ZREM"] = super()._zrem

    def _mark(self, key: str, name: str) -> None:
        found = self.written.get(key)
        if found is None:
            self.written[key] = {name}
        else:
            found.add(name)

    def apply(self, entries: Sequence[Entry]) -> int:
        # Marked per op from its arguments, in one loop (overriding each handler costs a
        # call per op). An entry applied twice is marked twice: harmless.
        written, names_of = self.written, _NAMES
        for entry in entries:
            for op in entry[3]:
                where = names_of.get(op[0])
                if where is None:
                    continue
                found = written.get(op[1])
                if found is None:
                    found = written[op[1]] = set()
                found.update(op[where[0] : where[1] : where[2]])
        return super().apply(entries)

    def _zadd(self, op: Op) -> None:
        self._mark(op[1], op[3])
        super()._zadd(op)

    def _zrem(self, op: Op) -> None:
        self._mark(op[1], op[2])
        super()._zrem(op)

    def _zmin(self, op: Op) -> None:
        self.reads.add(op[1])
        super()._zmin(op)

    def _hsetshared(self, op: Op) -> None:
        self.reads.add(op[1])  # whether `field` is written depends on `shared`
        self._mark(op[1], op[2])
        self._mark(op[1], op[3])
        super()._hsetshared(op)

    def _zsync(self, op: Op) -> None:
        self.reads.add(op[1])  # its fields (`counted`) are written directly too
        super()._zsync(op)

    def _tally(self, meta: dict, tally: str, now: int, before: int,  # type: ignore[override]
               p: str = "") -> None:  # fmt: skip
        self.reads.add(tally)  # a group's counts decide its own place
        super()._tally(meta, tally, now, before, p)

    def _feed(self, op: Op) -> None:
        partition = self._at[0]
        self.reads.add(f"{op[1]}:{partition}")
        self._mark(f"{op[1]}:floor", str(partition))
        super()._feed(op)

    def shipped(self) -> tuple[dict[str, Container], dict[str, set[str]], set[str],
                               dict[tuple[str, int], int]]:  # fmt: skip
        """What a worker sends back (picklable)."""
        return self.data, self.written, self.reads, self._positions


def merge(parts: Sequence[tuple[dict, dict, set, dict]]) -> MemoryStore | None:
    """One store equal to folding the segments one after the other, or None when the
    segments' writes interleave in a way only a serial replay reproduces."""
    # Most keys belong to one segment: their containers are taken as they are, in bulk
    # (set and dict operations in C); only the keys several segments name are combined.
    merged = MemoryStore()
    out = merged.data
    named: set[str] = set()
    shared: set[str] = set()
    for data, written, reads, positions in parts:
        mine = data.keys() | written.keys() | reads
        shared |= named & mine
        named |= mine
        out.update(data)
        merged._positions.update(positions)
    for key in shared:
        who = [part for part in parts if key in part[0] or key in part[1] or key in part[2]]
        if any(key in part[2] for part in who):
            return None  # read in one segment, touched in another: order matters
        combined = _combine(key, who)
        if combined is False:
            return None
        if combined:
            out[key] = combined
    return merged


def _combine(key: str, parts: Sequence[tuple[dict, dict, set, dict]]) -> Container | bool | None:
    """The key's content across segments; False when a field or member one segment wrote
    or removed (by anything but HINCRBY or SADD) is one another segment touched."""
    found = [part[0][key] for part in parts if key in part[0]]
    if found and any(c.__class__ is not found[0].__class__ for c in found):
        return False  # a key of two types: serial replay raises WRONGTYPE
    if not is_offsets_key(key):  # (each segment writes its own partitions' positions)
        marks = [(written.get(key, set()), data.get(key, ())) for data, written, _, _ in parts]
        touched = [mine.union(held) for mine, held in marks]
        for i, (mine, _) in enumerate(marks):
            if mine and any(not mine.isdisjoint(t) for j, t in enumerate(touched) if j != i):
                return False
    if not found:
        return None
    kind = found[0].__class__
    if kind is set:
        return set().union(*found)
    if kind is ZSet:
        z = ZSet()
        for c in found:
            z.update(c)
        return z
    h: dict[str, str | int] = {}
    if is_offsets_key(key):  # each segment's own partitions' positions
        for c in found:
            h.update(c)
        return h
    for c in found:  # a field in two hashes was only ever incremented: sum it
        for name, value in c.items():
            if name in h:
                h[name] = int(h[name]) + int(value)
            else:
                h[name] = value
    return h
