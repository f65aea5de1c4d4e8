"""The JSON-lines form of the event log, for export, import and auditors' own tools.

One line per event: its origin (topic, partition, offset) and the same plain map the
msgpack codec writes, so a file and the live topic feed the very same folds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from schemas.codec import event_from_plain, event_to_plain
from schemas.envelope import EventEnvelope
from schemas.errors import SchemaError


def event_line(env: EventEnvelope, partition: int, offset: int) -> str:
    record: dict[str, Any] = {"partition": partition, "offset": offset}
    record.update(event_to_plain(env))
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def read_lines(lines: Iterable[str]) -> Iterator[tuple[int, int, EventEnvelope]]:
    """Yield (partition, offset, envelope); a bad line raises SchemaError naming its number."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            partition, offset = obj.pop("partition"), obj.pop("offset")
            yield partition, offset, event_from_plain(obj)
        except (ValueError, KeyError) as exc:
            raise SchemaError(f"line {number}: {exc}", "bad_export") from exc


def write_lines(out: IO[str], records: Iterable[tuple[int, int, EventEnvelope]]) -> int:
    count = 0
    for partition, offset, env in records:
        out.write(event_line(env, partition, offset))
        out.write("\n")
        count += 1
    return count
