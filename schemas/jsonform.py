"""The JSON-lines form of the event log, for export, import and auditors' own tools.

One line per event: its origin (partition, the offset of its Kafka record and its index in
that record, see schemas.positions) and the same plain map the msgpack codec writes, so a
file and the live topic feed the very same folds. Lines written before records held
several events have no index: it is 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from schemas.codec import event_from_plain, event_to_plain
from schemas.envelope import EventEnvelope
from schemas.errors import SchemaError
from schemas.positions import Positioned, index_of, offset_of, position


def event_line(env: EventEnvelope, partition: int, pos: int) -> str:
    """The line for the event at `pos` (a position, not a Kafka offset)."""
    record: dict[str, Any] = {
        "partition": partition, "offset": offset_of(pos), "index": index_of(pos)
    }
    record.update(event_to_plain(env))
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def read_lines(lines: Iterable[str]) -> Iterator[Positioned]:
    """Yield (partition, position, envelope); a bad line raises SchemaError naming its number."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            partition, offset = obj.pop("partition"), obj.pop("offset")
            at = position(offset, obj.pop("index", 0))
            env = event_from_plain(obj)
        except (ValueError, KeyError, TypeError) as exc:
            raise SchemaError(f"line {number}: {exc}", "bad_export") from exc
        yield partition, at, env


def write_lines(out: IO[str], records: Iterable[Positioned]) -> int:
    count = 0
    for partition, pos, env in records:
        out.write(event_line(env, partition, pos))
        out.write("\n")
        count += 1
    return count
