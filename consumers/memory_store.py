"""Dict-backed view store with Redis semantics, for unit tests, replay and the audit.

It mirrors what the Redis store does byte for byte where the digest can see it: values
are stored as strings, empty hashes/sets/sorted sets disappear, sorted sets order ties
by member, and a wrong-type access fails as Redis would.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from consumers.ops import COMMANDS, Entry, is_offsets_key
from consumers.store import Dumped, Scored, Window, digest_of, format_score

Hash = dict[str, str]
ZSet = dict[str, float]


class WrongType(TypeError):
    """Mirrors Redis's WRONGTYPE error: a key used as two different types."""


# Only these can leave a key empty, which Redis then deletes.
_SHRINKING = frozenset({"HDEL", "ZREM", "SREM", "ZSYNC"})


class MemoryStore:
    def __init__(self) -> None:
        self.data: dict[str, Hash | set[str] | ZSet] = {}
        self.kinds: dict[str, str] = {}
        # Bound once: replay executes millions of ops, a getattr per op shows in profiles.
        self._ops = {name: getattr(self, "_" + name.lower()) for name in COMMANDS}

    # --- writes ---------------------------------------------------------------------

    def apply(self, entries: Sequence[Entry]) -> int:
        # Like the Lua script: refuse a batch with an unknown op before writing anything.
        for entry in entries:
            for op in entry.ops:
                if op[0] not in COMMANDS:
                    raise ValueError(f"unknown op {op[0]!r}")
        applied = 0
        for entry in entries:
            partition = str(entry.partition)
            offsets = self._get(entry.offsets_key, "h", create=True)  # no op writes it
            last = offsets.get(partition)
            if last is not None and entry.offset <= int(last):
                continue
            for op in entry.ops:
                self._execute(op)
            offsets[partition] = str(entry.offset)
            applied += 1
        return applied

    def _execute(self, op: tuple) -> None:
        name, key = op[0], op[1]
        self._ops[name](key, *op[2:])
        if name in _SHRINKING:
            container = self.data.get(key)
            if container is not None and not container:  # Redis deletes emptied keys
                del self.data[key], self.kinds[key]

    def _hincrby(self, key: str, field: str, n: str) -> None:
        h = self._get(key, "h", create=True)
        try:
            h[field] = str(int(h.get(field, "0")) + int(n))
        except ValueError:
            raise ValueError(f"hash value is not an integer: {key} {field}") from None

    def _hset(self, key: str, *pairs: str) -> None:
        h = self._get(key, "h", create=True)
        for i in range(0, len(pairs), 2):
            h[pairs[i]] = pairs[i + 1]

    def _hsetnx(self, key: str, field: str, value: str) -> None:
        self._get(key, "h", create=True).setdefault(field, value)

    def _hdel(self, key: str, field: str) -> None:
        self._get(key, "h").pop(field, None)

    def _zadd(self, key: str, score: str, member: str) -> None:
        self._get(key, "z", create=True)[member] = float(score)

    def _zrem(self, key: str, member: str) -> None:
        self._get(key, "z").pop(member, None)

    def _sadd(self, key: str, member: str) -> None:
        self._get(key, "s", create=True).add(member)

    def _srem(self, key: str, member: str) -> None:
        self._get(key, "s").discard(member)

    def _zsync(self, meta_key: str, member: str) -> None:
        meta = self._get(meta_key, "h")
        zkey, score = meta.get("zset"), meta.get("score")
        if zkey is None or score is None:
            return
        if int(meta.get("free", "0")) > 0:
            self._zadd(zkey, score, member)
        else:
            self._zrem(zkey, member)
        if not self.data.get(zkey, True):
            del self.data[zkey], self.kinds[zkey]

    def _get(self, key: str, kind: str, create: bool = False):  # type: ignore[no-untyped-def]
        found = self.kinds.get(key)
        if found is None:
            empty: Hash | set[str] | ZSet = set() if kind == "s" else {}
            if create:
                self.data[key], self.kinds[key] = empty, kind
            return empty
        if found != kind:
            raise WrongType(f"{key} holds a {found}, not a {kind}")
        return self.data[key]

    # --- reads (the Reader protocol) ------------------------------------------------

    def hgetall(self, key: str) -> dict[str, str]:
        return dict(self._get(key, "h"))

    def hgetall_many(self, keys: Sequence[str]) -> list[dict[str, str]]:
        return [self.hgetall(k) for k in keys]

    def smembers(self, key: str) -> set[str]:
        return set(self._get(key, "s"))

    def smembers_many(self, keys: Sequence[str]) -> list[set[str]]:
        return [self.smembers(k) for k in keys]

    def smismember(self, key: str, members: Sequence[str]) -> list[bool]:
        present = self._get(key, "s")
        return [m in present for m in members]

    def _ranked(self, key: str) -> list[Scored]:
        return sorted(self._get(key, "z").items(), key=lambda item: (item[1], item[0]))

    def zrange_many(self, windows: Sequence[Window]) -> list[list[Scored]]:
        return [_ranks(self._ranked(key), start, stop) for key, start, stop in windows]

    def zrangebyscore(self, key: str, max_score: float, limit: int) -> list[Scored]:
        return [item for item in self._ranked(key) if item[1] <= max_score][:limit]

    def scan(self, prefix: str) -> list[str]:
        return sorted(k for k in self.data if k.startswith(prefix))

    def offsets(self, offsets_key: str) -> dict[int, int]:
        return {int(p): int(o) for p, o in self._get(offsets_key, "h").items()}

    # --- audit ----------------------------------------------------------------------

    def dump(self, prefix: str) -> Iterator[Dumped]:
        for key in self.scan(prefix):
            if is_offsets_key(key):
                continue
            kind, value = self.kinds[key], self.data[key]
            if kind == "h":
                pairs = sorted(value.items())  # type: ignore[union-attr]
            elif kind == "s":
                pairs = [(m, "") for m in sorted(value)]
            else:
                pairs = [(m, format_score(s)) for m, s in sorted(value.items())]  # type: ignore[union-attr]
            yield key, kind, pairs

    def digest(self, prefix: str) -> str:
        return digest_of(self.dump(prefix))


def _ranks(items: list[Scored], start: int, stop: int) -> list[Scored]:
    """ZRANGE's inclusive, negative-from-the-end rank window."""
    n = len(items)
    start, stop = start + n if start < 0 else start, stop + n if stop < 0 else stop
    return items[max(start, 0) : stop + 1] if stop >= 0 else []
