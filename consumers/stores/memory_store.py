"""Dict-backed view store with Redis semantics, for unit tests, replay and the audit.

It mirrors what the Redis store does byte for byte where the digest can see it: values
are stored as strings, empty hashes/sets/sorted sets disappear, sorted sets order ties
by member, and a wrong-type access fails as Redis would.

Replay executes millions of ops, so the write path is lean: one key space whose
container's class is the key's type (`dict` a hash, `set` a set, `ZSet` a sorted set),
so a write costs one lookup, type check included; each op's handler takes the op tuple
itself; offsets are compared as ints and written into their hashes once per batch;
HINCRBY keeps its counter an int until something reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import chain
from operator import itemgetter

from consumers.stores.ops import COMMANDS, Entry, Op, feed_floor_key, is_offsets_key
from consumers.stores.store import Dumped, Scored, Window, digest_of, format_score

# A hash field holds a string, or an int HINCRBY left there; reads give the string Redis
# would hold (str of an int is its canonical form).
Hash = dict[str, str | int]
_NAME, _OPS = itemgetter(0), itemgetter(3)


class ZSet(dict[str, float]):
    """A sorted set: member -> score, ordered when read."""

    __slots__ = ()


Container = Hash | set[str] | ZSet
_TYPES: dict[type, str] = {dict: "h", set: "s", ZSet: "z"}


class WrongType(TypeError):
    """Mirrors Redis's WRONGTYPE error: a key used as two different types."""


class MemoryStore:
    def __init__(self) -> None:
        self.data: dict[str, Container] = {}
        # (offsets key, partition) -> last applied position; written into the offsets hashes
        # at the end of each apply, so the per-entry check neither parses nor formats.
        self._positions: dict[tuple[str, int], int] = {}
        self._at = (0, 0)  # (partition, position) of the entry being applied
        self._run: dict[str, Callable[[Op], None]] = {
            name: getattr(self, "_" + name.lower()) for name in COMMANDS
        }

    # --- writes ---------------------------------------------------------------------

    def apply(self, entries: Sequence[Entry]) -> int:
        # Like the Lua script: refuse a batch with an unknown op before writing anything.
        if not COMMANDS.issuperset(map(_NAME, chain.from_iterable(map(_OPS, entries)))):
            raise ValueError(f"unknown op {_first_unknown(entries)!r}")
        run, positions = self._run, self._positions
        applied = 0
        try:
            for entry in entries:
                slot = entry[0], entry[1]
                position = entry[2]
                if position <= positions.get(slot, -1):
                    continue
                self._at = slot[1], position  # where FEED puts its member
                for op in entry[3]:
                    run[op[0]](op)
                positions[slot] = position
                applied += 1
        finally:  # an op that fails (wrong type) keeps the positions of the entries before it
            if applied:
                for (key, partition), position in positions.items():
                    self._write(key, dict)[str(partition)] = str(position)
        return applied

    def _hincrby(self, op: Op) -> None:
        _, key, field, n = op
        h = self.data.get(key)
        if h.__class__ is not dict:
            h = self._create(key, h, dict)
        old = h.get(field, 0)
        h[field] = (old if old.__class__ is int else _integer(old, key, field)) + int(n)

    def _hset(self, op: Op) -> None:
        h = self.data.get(op[1])
        if h.__class__ is not dict:
            h = self._create(op[1], h, dict)
        if len(op) == 4:
            h[op[2]] = op[3]
            return
        if len(op) % 2:
            raise ValueError(f"HSET {op[1]}: a field without a value")
        pairs = iter(op)
        next(pairs), next(pairs)
        h.update(zip(pairs, pairs, strict=False))  # even length checked above

    def _hsetnx(self, op: Op) -> None:
        _, key, field, value = op
        h = self.data.get(key)
        if h.__class__ is not dict:
            h = self._create(key, h, dict)
        h.setdefault(field, value)

    def _hdel(self, op: Op) -> None:
        key = op[1]
        h = self.data.get(key)
        if h.__class__ is not dict:
            self._create(key, h, None)
            return
        for i in range(2, len(op)):
            h.pop(op[i], None)
        if not h:
            del self.data[key]  # Redis deletes emptied keys

    def _zadd(self, op: Op) -> None:
        _, key, score, member = op
        z = self.data.get(key)
        if z.__class__ is not ZSet:
            z = self._create(key, z, ZSet)
        z[member] = float(score)

    def _zrem(self, op: Op) -> None:
        _, key, member = op
        z = self.data.get(key)
        if z.__class__ is not ZSet:
            self._create(key, z, None)
        elif z.pop(member, None) is not None and not z:
            del self.data[key]

    def _sadd(self, op: Op) -> None:
        _, key, member = op
        s = self.data.get(key)
        if s.__class__ is not set:
            s = self._create(key, s, set)
        s.add(member)

    def _srem(self, op: Op) -> None:
        _, key, member = op
        s = self.data.get(key)
        if s.__class__ is not set:
            self._create(key, s, None)
        elif member in s:
            s.discard(member)
            if not s:
                del self.data[key]

    def _zmin(self, op: Op) -> None:
        _, key, zset, member = op
        values = self._read(key, dict).values()
        if values:
            self._zadd(("ZADD", zset, str(min(int(v) for v in values)), member))
        else:
            self._zrem(("ZREM", zset, member))

    def _hsetshared(self, op: Op) -> None:
        _, key, shared, field, value = op
        h = self.data.get(key)
        if h.__class__ is not dict:
            h = self._create(key, h, dict)
        if str(h.setdefault(shared, value)) == value:
            h.pop(field, None)  # never empties it: `shared` is there
        else:
            h[field] = value

    def _zsync(self, op: Op) -> None:
        meta_key, member = op[1], op[2]
        p = op[3] if len(op) > 3 else ""
        meta = self.data.get(meta_key)
        if meta.__class__ is not dict:
            self._create(meta_key, meta, None)
            return
        zkey, score = meta.get(p + "zset"), meta.get(p + "score")
        zkey = meta.get("~zset") if zkey is None else zkey
        score = meta.get("~score") if score is None else score
        if zkey is None or score is None:
            return
        free = int(meta.get(p + "free", 0))
        if free > 0:
            self._zadd(("ZADD", str(zkey), str(score), member))
        else:
            self._zrem(("ZREM", str(zkey), member))
        tally = meta.get(p + "tally")
        tally = meta.get("~tally") if tally is None else tally
        if tally is not None:
            self._tally(meta, str(tally), max(free, 0), int(meta.get(p + "counted", 0)), p)

    def _tally(self, meta: Hash, tally: str, now: int, before: int, p: str = "") -> None:
        """ZSYNC's sum of a member into its group (consumers/stores/ops.py), as the Lua does."""
        if now == before:
            return
        self._hincrby(("HINCRBY", tally, "free", str(now - before)))
        if (now > 0) != (before > 0):
            self._hincrby(("HINCRBY", tally, "open_tasks", "1" if now > 0 else "-1"))
        if now > 0:
            meta[p + "counted"] = str(now)
        else:
            meta.pop(p + "counted", None)  # never empties it: `free` stays
        group = self.data[tally]
        zkey, score, member = group.get("zset"), group.get("score"), group.get("group_id")
        if zkey is None or score is None or member is None:
            return
        if int(group.get("free", 0)) > 0:
            self._zadd(("ZADD", str(zkey), str(score), str(member)))
        else:
            self._zrem(("ZREM", str(zkey), str(member)))

    def _feed(self, op: Op) -> None:
        _, base, member, keep = op
        partition, position = self._at
        key = f"{base}:{partition}"
        self._zadd(("ZADD", key, str(position), member))
        z = self.data[key]
        if len(z) > int(keep):
            lowest = min(z.items(), key=lambda item: (item[1], item[0]))
            self._zrem(("ZREM", key, lowest[0]))
            self._write(feed_floor_key(base), dict)[str(partition)] = str(int(lowest[1]))

    def _create(self, key: str, found: object, kind: type | None) -> Container:
        """`key` is absent (`found` None): a new empty `kind` (None: nothing); else WRONGTYPE."""
        if found is not None:
            raise WrongType(f"{key} holds a {_TYPES[found.__class__]}")
        if kind is None:
            return None
        new = self.data[key] = kind()
        return new

    def _write(self, key: str, kind: type) -> Container:
        found = self.data.get(key)
        return found if found.__class__ is kind else self._create(key, found, kind)

    def _read(self, key: str, kind: type) -> Container:
        found = self.data.get(key)
        if found.__class__ is kind:
            return found
        self._create(key, found, None)
        return kind()

    # --- reads (the Reader protocol) ------------------------------------------------

    def hgetall(self, key: str) -> dict[str, str]:
        return _strings(self._read(key, dict))

    def hgetall_many(self, keys: Sequence[str]) -> list[dict[str, str]]:
        return [self.hgetall(k) for k in keys]

    def hmget(self, key: str, fields: Sequence[str]) -> list[str | None]:
        h = self._read(key, dict)
        return [None if (v := h.get(f)) is None else v if v.__class__ is str else str(v)
                for f in fields]  # fmt: skip

    def smembers(self, key: str) -> set[str]:
        return set(self._read(key, set))

    def smembers_many(self, keys: Sequence[str]) -> list[set[str]]:
        return [self.smembers(k) for k in keys]

    def smismember(self, key: str, members: Sequence[str]) -> list[bool]:
        present = self._read(key, set)
        return [m in present for m in members]

    def _ranked(self, key: str) -> list[Scored]:
        zset = self._read(key, ZSet)
        return sorted(zset.items(), key=lambda item: (item[1], item[0]))

    def zrange_many(self, windows: Sequence[Window]) -> list[list[Scored]]:
        return [_ranks(self._ranked(key), start, stop) for key, start, stop in windows]

    def zrangebyscore(self, key: str, max_score: float, limit: int) -> list[Scored]:
        return [item for item in self._ranked(key) if item[1] <= max_score][:limit]

    def zrange_from(self, key: str, min_score: int, offset: int, count: int) -> list[Scored]:
        return [item for item in self._ranked(key) if item[1] >= min_score][offset:offset + count]

    def zrange_from_many(self, windows: Sequence[Window]) -> list[list[Scored]]:
        return [self.zrange_from(key, min_score, 0, count) for key, min_score, count in windows]

    def zcard_many(self, keys: Sequence[str]) -> list[int]:
        return [len(self._read(key, ZSet)) for key in keys]

    def scan(self, prefix: str) -> list[str]:
        return sorted(k for k in self.data if k.startswith(prefix))

    def offsets(self, offsets_key: str) -> dict[int, int]:
        return {int(p): int(o) for p, o in self.hgetall(offsets_key).items()}

    # --- audit ----------------------------------------------------------------------

    def dump(self, prefix: str) -> Iterator[Dumped]:
        for key in self.scan(prefix):
            if is_offsets_key(key):
                continue
            value = self.data[key]
            kind = _TYPES[value.__class__]
            if kind == "h":
                pairs = sorted(_strings(value).items())
            elif kind == "s":
                pairs = [(m, "") for m in sorted(value)]
            else:
                pairs = [(m, format_score(s)) for m, s in sorted(value.items())]
            yield key, kind, pairs

    def digest(self, prefix: str) -> str:
        return digest_of(self.dump(prefix))


def _integer(value: str, key: str, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"hash value is not an integer: {key} {field}") from None


def _strings(h: Hash) -> dict[str, str]:
    return {k: v if v.__class__ is str else str(v) for k, v in h.items()}


def _first_unknown(entries: Sequence[Entry]) -> str:
    return next(op[0] for e in entries for op in e.ops if op[0] not in COMMANDS)


def _ranks(items: list[Scored], start: int, stop: int) -> list[Scored]:
    """ZRANGE's inclusive, negative-from-the-end rank window."""
    n = len(items)
    start, stop = start + n if start < 0 else start, stop + n if stop < 0 else stop
    return items[max(start, 0) : stop + 1] if stop >= 0 else []
