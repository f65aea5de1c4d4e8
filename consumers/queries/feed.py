"""Read an actor's feed (consumers/views/feed.py) a page at a time, from a cursor.

A cursor is one log position per events partition: how far the reader has read each.
It is opaque to clients (`v1.` then each partition's position in base 36, `-` for none
yet), and it is what SSE sends as the event id, so a client that reconnects with it
(Last-Event-ID) gets what follows and nothing twice. A page merges the partitions by
instant; within a partition, order is log order, and only a prefix of each partition's
unread events is ever taken, which is what keeps every event exactly once.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from consumers.stores.ops import feed_floor_key
from consumers.stores.store import Reader
from consumers.views.feed import feed_base, partition_key

PREFIX = "v1."
MAX_CURSOR_CHARS = 400
MAX_POSITION = 2**53 - 1  # scores are doubles: exact integers below 2**53


class BadCursor(ValueError):
    """Not a cursor this feed issued."""


class CursorExpired(Exception):
    """The cursor is older than what the feed keeps: events after it were dropped."""


@dataclass(frozen=True, slots=True)
class FeedItem:
    cursor: str  # the cursor just after this item: resume from here
    partition: int
    position: int
    id: str
    type: str
    at: int
    correlation_id: str
    data: dict[str, Any]

    def to_plain(self) -> dict[str, Any]:
        return {"cursor": self.cursor, "id": self.id, "type": self.type, "at": self.at,
                "partition": self.partition, "position": self.position,
                "correlation_id": self.correlation_id, "data": self.data}


def encode_cursor(positions: Sequence[int]) -> str:
    return PREFIX + ".".join("-" if p < 0 else _base36(p) for p in positions)


def decode_cursor(text: str | None, partitions: int) -> list[int]:
    """Positions per partition (-1: nothing read there); None reads from the start."""
    positions = [-1] * partitions
    if text is None or text == "":
        return positions
    if len(text) > MAX_CURSOR_CHARS or not text.startswith(PREFIX):
        raise BadCursor("not a feed cursor")
    parts = text[len(PREFIX):].split(".")
    if len(parts) > partitions:
        raise BadCursor("the cursor names more partitions than the log has")
    for i, part in enumerate(parts):
        if part == "-":
            continue
        try:
            value = int(part, 36)
        except ValueError:
            raise BadCursor("not a feed cursor") from None
        if not 0 <= value <= MAX_POSITION or part != _base36(value):
            raise BadCursor("not a feed cursor")
        positions[i] = value
    return positions


def read_page(reader: Reader, actor_id: str, after: str | None, limit: int, partitions: int,
              types: frozenset[str] | None = None) -> tuple[list[FeedItem], str, bool]:  # fmt: skip
    """(items, next_cursor, has_more): up to `limit` events after `after`, of `types` if
    given (the cursor moves past the others too). One round trip for all partitions."""
    positions = decode_cursor(after, partitions)
    if after:  # from the start means from the oldest event kept
        _check_floor(reader, actor_id, positions)
    fetched = reader.zrange_from_many(
        [(partition_key(actor_id, p), positions[p] + 1, limit) for p in range(partitions)])
    streams = [
        [(_instant(member), p, int(score), member) for member, score in rows]
        for p, rows in enumerate(fetched)
    ]
    items: list[FeedItem] = []
    taken = [0] * partitions
    for at, p, position, member in heapq.merge(*streams):
        positions[p] = position
        taken[p] += 1
        item = _item(member, at, p, position, positions)
        if types is None or item.type in types:
            items.append(item)
        if len(items) >= limit or (taken[p] == limit and len(fetched[p]) == limit):
            break  # a full partition read to its end may have more: stop with it
    more = any(len(rows) > n or len(rows) == limit for rows, n in zip(fetched, taken,
                                                                          strict=True))
    return items, encode_cursor(positions), more


def latest_cursor(reader: Reader, actor_id: str, partitions: int) -> str:
    """The cursor just after the actor's newest event: where "from now on" starts."""
    last = reader.zrange_many([(partition_key(actor_id, p), -1, -1) for p in range(partitions)])
    return encode_cursor([int(rows[0][1]) if rows else -1 for rows in last])


def _check_floor(reader: Reader, actor_id: str, positions: list[int]) -> None:
    floors = reader.hgetall(feed_floor_key(feed_base(actor_id)))
    for p, dropped in floors.items():
        partition = int(p)
        if partition < len(positions) and positions[partition] < int(dropped):
            raise CursorExpired(
                "events after this cursor were dropped from the feed (it keeps the latest "
                "of each partition); read the listings or the results export, then "
                "follow from after=latest")  # fmt: skip


def _instant(member: str) -> int:
    return int(member[: member.index("|")])


def _item(member: str, at: int, partition: int, position: int,
          positions: list[int]) -> FeedItem:  # fmt: skip
    body = json.loads(member[member.index("|") + 1:])
    return FeedItem(encode_cursor(positions), partition, position, body["id"], body["type"],
                    at, body.get("correlation_id", ""), body["data"])


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(digits[r])
    return "".join(reversed(out))
