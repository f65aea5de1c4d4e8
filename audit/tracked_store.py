"""A MemoryStore that remembers what each op touched, so stores folded apart can be merged.

The parallel replay (audit/parallel.py) folds each log segment into its own store. Two
segments' stores merge exactly when no field or member was written by both, except hash
fields only ever HINCRBY'd (increments commute: they are summed) and set members only
ever SADDed, and no key one segment READ (ZSYNC's meta hash, ZMIN's hash, a group's
tally, HSETSHARED's hash) was touched by another: there the order of the segments would
matter. `merge` checks that and says None otherwise; the caller
then replays serially.
"""

from __future__ import annotations

from collections.abc import Sequence

from consumers.stores.memory_store import Container, MemoryStore, ZSet
from consumers.stores.ops import Entry, Op, is_offsets_key

INCR, WRITE, ADD = 1, 2, 4  # ADD: SADD, idempotent (a set's member added, never removed)


_HOW = {"HINCRBY": INCR, "HSET": WRITE, "HSETNX": WRITE, "HDEL": WRITE, "SADD": ADD,
        "SREM": WRITE}


class TrackedStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.touched: dict[str, dict[str, int]] = {}  # key -> field or member -> INCR|WRITE
        self.reads: set[str] = set()  # keys whose content an op read

    def _mark(self, key: str, names: Sequence[str], how: int) -> None:
        fields = self.touched.get(key)
        if fields is None:
            fields = self.touched[key] = {}
        for name in names:
            fields[name] = fields.get(name, 0) | how

    def apply(self, entries: Sequence[Entry]) -> int:
        # Marked per op from its arguments, in one loop (overriding each handler costs a
        # call per op); the ops that write what their arguments do not name are marked
        # by their handlers below. An entry applied twice is marked twice: harmless.
        touched = self.touched
        for entry in entries:
            for op in entry[3]:
                name = op[0]
                how = _HOW.get(name)
                if how is None:
                    continue
                fields = touched.get(op[1])
                if fields is None:
                    fields = touched[op[1]] = {}
                if name == "HSET":
                    names: Sequence[str] = op[2::2]
                elif name == "HDEL":
                    names = op[2:]
                else:
                    names = op[2:3]
                for field in names:
                    fields[field] = fields.get(field, 0) | how
        return super().apply(entries)

    # Sorted sets are also written by ZSYNC, ZMIN and FEED, at keys read from the store:
    # marked where every such write passes.
    def _zadd(self, op: Op) -> None:
        self._mark(op[1], (op[3],), WRITE)
        super()._zadd(op)

    def _zrem(self, op: Op) -> None:
        self._mark(op[1], (op[2],), WRITE)
        super()._zrem(op)

    def _zmin(self, op: Op) -> None:
        self.reads.add(op[1])
        super()._zmin(op)

    def _hsetshared(self, op: Op) -> None:
        self.reads.add(op[1])  # whether `field` is written depends on `shared`
        self._mark(op[1], (op[2], op[3]), WRITE)
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
        self._mark(f"{op[1]}:floor", (str(partition),), WRITE)
        super()._feed(op)

    def shipped(self) -> tuple[dict[str, Container], dict[str, dict[str, int]], set[str],
                               dict[tuple[str, int], int]]:  # fmt: skip
        """What a worker sends back (picklable)."""
        return self.data, self.touched, self.reads, self._positions


def merge(parts: Sequence[tuple[dict, dict, set, dict]]) -> MemoryStore | None:
    """One store equal to folding the segments one after the other, or None when the
    segments' writes interleave in a way only a serial replay reproduces."""
    owners: dict[str, list[int]] = {}
    for i, (data, touched, reads, _) in enumerate(parts):
        for key in touched.keys() | reads | data.keys():
            owners.setdefault(key, []).append(i)
    merged = MemoryStore()
    out = merged.data
    for key, who in owners.items():
        if len(who) == 1:
            found = parts[who[0]][0].get(key)
            if found is not None:
                out[key] = found
            continue
        if any(key in parts[i][2] for i in who):
            return None  # read in one segment, touched in another: order matters
        combined = _combine(key, [parts[i] for i in who])
        if combined is False:
            return None
        if combined:
            out[key] = combined
    for part in parts:
        merged._positions.update(part[3])
    return merged


def _combine(key: str, parts: Sequence[tuple[dict, dict, set, dict]]) -> Container | bool | None:
    """The key's content across segments; False when two segments wrote the same field or
    member (other than by increments only)."""
    seen: dict[str, int] = {}
    for _, touched, _, _ in parts:
        for name, how in touched.get(key, {}).items():
            before = seen.get(name)
            if before is not None and (how | before) not in (INCR, ADD):
                return False  # only increments, or only SADDs, commute
            seen[name] = how | (before or 0)
    found = [part[0][key] for part in parts if key in part[0]]
    if not found:
        return None
    kind = found[0].__class__
    if any(c.__class__ is not kind for c in found):
        return False  # a key of two types: serial replay raises WRONGTYPE
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
