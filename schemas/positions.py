"""Where an event sits in the events log: its record's Kafka offset and its index in it.

A record carries the events of one decision (see schemas.codec), so the Kafka offset alone
no longer names an event. Views and audits order and de-duplicate by the position
`offset << 16 | index`, which sorts exactly like (offset, index) and stays an exact
integer in Redis' Lua (doubles) up to offset 2**37.
"""

from __future__ import annotations

from typing import TypeAlias

from schemas.envelope import EventEnvelope

INDEX_BITS = 16
MAX_INDEX = (1 << INDEX_BITS) - 1
# An event and its place in the log: (partition, position, event), what every fold of the
# log (views, audit, export) reads. A plain tuple, not a NamedTuple: millions are built on
# the replay path, and the audit tells them from its Undecodable items by `type() is tuple`.
Positioned: TypeAlias = tuple[int, int, EventEnvelope]


def position(offset: int, index: int = 0) -> int:
    if not 0 <= index <= MAX_INDEX:
        raise ValueError(f"event index {index} outside 0..{MAX_INDEX}")
    return offset << INDEX_BITS | index


def offset_of(pos: int) -> int:
    return pos >> INDEX_BITS


def index_of(pos: int) -> int:
    return pos & MAX_INDEX


def describe(partition: int, pos: int) -> str:
    """`partition/offset#index`, how reports name an event's place in the log."""
    return f"{partition}/{offset_of(pos)}#{index_of(pos)}"
