"""What every view store offers: apply entries atomically, read a few shapes, and digest.

Queries (queue candidates, due deadlines, ledger totals) take a `Reader`, so the same
logic runs over the live Redis and over a MemoryStore rebuilt by replay.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from consumers.stores.ops import Entry

Scored = tuple[str, float]
Window = tuple[str, int, int]  # key, start rank, stop rank (zrange_from_many: min score, count)
# One key's normalised content: its type letter and sorted (name, value) pairs.
Dumped = tuple[str, str, list[tuple[str, str]]]


class Reader(Protocol):
    def hgetall(self, key: str) -> dict[str, str]: ...

    def hgetall_many(self, keys: Sequence[str]) -> list[dict[str, str]]: ...

    def hmget(self, key: str, fields: Sequence[str]) -> list[str | None]: ...

    def smembers(self, key: str) -> set[str]: ...

    def smembers_many(self, keys: Sequence[str]) -> list[set[str]]: ...

    def smismember(self, key: str, members: Sequence[str]) -> list[bool]: ...

    def zrange_many(self, windows: Sequence[Window]) -> list[list[Scored]]:
        """Per (key, start, stop): members ranked start..stop (inclusive, negative from the
        end) by ascending score, then member; one round trip for all."""
        ...

    def zrangebyscore(self, key: str, max_score: float, limit: int) -> list[Scored]: ...

    def zrange_from(self, key: str, min_score: int, offset: int, count: int) -> list[Scored]:
        """Members scored `min_score` or more, ascending, `count` of them after `offset`
        (ZRANGEBYSCORE ... LIMIT): O(log N + offset + count)."""
        ...

    def zrange_from_many(self, windows: Sequence[Window]) -> list[list[Scored]]:
        """Per (key, min_score, count): `zrange_from(key, min_score, 0, count)`; one round
        trip and one instant for all (MULTI)."""
        ...

    def zcard_many(self, keys: Sequence[str]) -> list[int]: ...

    def scan(self, prefix: str) -> list[str]: ...


class Store(Reader, Protocol):
    def apply(self, entries: Sequence[Entry]) -> int:
        """Apply every entry above its partition's stored position; return how many applied."""
        ...

    def offsets(self, offsets_key: str) -> dict[int, int]: ...

    def dump(self, prefix: str) -> Iterator[Dumped]:
        """Every key under `prefix` but the offsets, sorted, with its normalised content."""
        ...

    def digest(self, prefix: str) -> str: ...


def format_score(score: float) -> str:
    # Scores are integers below 2**53 in every view, so this is exact and stable.
    return repr(float(score))


def digest_of(dumped: Iterable[Dumped]) -> str:
    """sha256 over keys in sorted order; the caller must yield them sorted by key."""
    h = hashlib.sha256()
    for key, kind, pairs in dumped:
        h.update(f"{kind}\x1f{key}\x1e".encode())
        for name, value in pairs:
            h.update(f"{name}\x1f{value}\x1e".encode())
        h.update(b"\x1d")
    return h.hexdigest()
