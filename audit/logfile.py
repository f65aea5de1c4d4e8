"""Export the events topic to JSON lines (audit/importer.py writes them back).

Export writes one `schemas.jsonform` line per event; a record that does not decode is
written raw (hex) with its error, so the file holds the whole log and nothing is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any

from audit.source import Item, LogSource, Undecodable
from schemas.codec import encode_event, encode_event_records
from schemas.envelope import EventEnvelope
from schemas.ids import requester_of_task
from schemas.jsonform import event_line
from schemas.positions import offset_of

TICK_EVERY = 2_048


def raw_line(u: Undecodable) -> str:
    raw = {"code": u.code, "error": u.error, "key": u.key and u.key.hex(),
           "value": None if u.value is None else u.value.hex()}  # fmt: skip
    return json.dumps({"partition": u.partition, "offset": u.offset, "undecodable": raw})


def export(log: LogSource, out: IO[str], tick: Callable[[], None] | None = None,
           fields: Callable[[Item], dict[str, Any]] | None = None) -> int:  # fmt: skip
    """`fields` adds keys to an item's line (the chain fields of audit.verify)."""
    count = 0
    for count, item in enumerate(log.items(), 1):
        line = (event_line(item[2], item[0], item[1]) if type(item) is tuple
                else raw_line(item))  # type: ignore[arg-type]  # fmt: skip
        extra = fields(item) if fields is not None else None
        if extra:  # both are JSON objects: splice the extra keys in before the brace
            line = line[:-1] + "," + json.dumps(extra, separators=(",", ":"))[1:]
        out.write(line)
        out.write("\n")
        if tick is not None and count % TICK_EVERY == 0:
            tick()
    return count


def event_key(env: EventEnvelope) -> bytes:
    """The record key the processor wrote: the partition key of the command that caused it
    (the requester for account and task events, the worker for wallet events)."""
    kind, _, rest = env.aggregate_id.partition(":")
    return (requester_of_task(rest) if kind == "task" else rest).encode()


def record_key(item: Item) -> bytes | None:
    """The key of the record to write back for an item (without encoding the event)."""
    return item.key if isinstance(item, Undecodable) else event_key(item[2])


def key_and_value(item: Item) -> tuple[bytes | None, bytes]:
    """The record to write back for an item: an event re-encoded, a raw record as it was."""
    if isinstance(item, Undecodable):
        return item.key, item.value or b""
    return event_key(item[2]), encode_event(item[2])


def source_records(items: Iterable[Item]) -> Iterator[list[Item]]:
    """Consecutive items that came from one Kafka record, grouped, so that an import writes
    a decision's events back as one record again (an undecodable record stands alone)."""
    group: list[Item] = []
    origin: tuple[int, int] | None = None
    for item in items:
        here = (item[0], item.offset if isinstance(item, Undecodable) else offset_of(item[1]))
        if group and (here != origin or isinstance(item, Undecodable)
                      or isinstance(group[0], Undecodable)):  # fmt: skip
            yield group
            group = []
        group.append(item)
        origin = here
    if group:
        yield group


def group_records(group: Sequence[Item]) -> list[tuple[bytes | None, bytes]]:
    """The Kafka records (key, value) to write for one group of `source_records`."""
    first = group[0]
    if isinstance(first, Undecodable):
        return [key_and_value(first)]
    key = event_key(first[2])
    return [(key, value) for value in encode_event_records([item[2] for item in group])]
