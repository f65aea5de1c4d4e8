"""Where a replay reads the log: the live events topic or an export file. I/O edge.

Both yield the same items in the same per-partition order: `(partition, position, event)`
records (schemas.positions: a record's offset and the event's index in it), and
`Undecodable` for a record that is not a valid event, so the audit can account for it
instead of stopping or skipping it silently. `done`/`total` feed a progress bar (records
for a topic, bytes for a file).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from runtime.kafka_io import partition_ids, read_partition, snapshot_consumer
from schemas.codec import decode_positioned, event_from_plain
from schemas.errors import SchemaError
from schemas.positions import Positioned, position


class Undecodable(NamedTuple):
    partition: int
    offset: int
    code: str
    error: str
    key: bytes | None
    value: bytes | None


Item = Positioned | Undecodable


class LogSource(Protocol):
    label: str  # the topic or the file, for the report
    total: int  # progress units: records of a topic, bytes of a file
    partitions: list[int]

    @property
    def done(self) -> int: ...

    def items(self, until: int | None = None) -> Iterator[Item]: ...


class ListLog:
    """A log already in memory (tests, benchmarks): the same interface as a topic or file."""

    def __init__(self, items: list[Item], label: str = "memory") -> None:
        self.label, self.list = label, items
        self.total, self.done = len(items), 0
        self.partitions = sorted({item[0] for item in items})

    def items(self, until: int | None = None) -> Iterator[Item]:
        return up_to(self._counted(), until)

    def _counted(self) -> Iterator[Item]:
        for n, item in enumerate(self.list, 1):
            self.done = n
            yield item


class KafkaLog:
    """Every committed record of a topic, partition by partition, from its first offset."""

    def __init__(self, bootstrap: str, topic: str, client_id: str = "piecework-audit",
                 cut: tuple[dict[int, int], dict[int, int]] | None = None) -> None:  # fmt: skip
        """`cut`: (begin, end) offsets per partition taken by another KafkaLog, so a
        parallel replay's workers read exactly its consistent cut (audit/parallel.py)."""
        self.topic = self.label = topic
        self.bootstrap = bootstrap
        self.consumer = snapshot_consumer(bootstrap, client_id)
        if cut is not None:
            self.begin, self.end = dict(cut[0]), dict(cut[1])
            self.partitions = sorted(self.end)
        else:
            self.partitions = partition_ids(self.consumer, topic)
            tps = [TopicPartition(topic, p) for p in self.partitions]
            self.begin = {tp.partition: o for tp, o in self.consumer.beginning_offsets(tps).items()}
            self.end = {tp.partition: o for tp, o in self.consumer.end_offsets(tps).items()}
        self.total = sum(self.end[p] - self.begin[p] for p in self.partitions)
        self._finished = 0
        self._current = (0, 0)  # partition, next offset
        # The record being read and its events, for the export's chain fields and the
        # audit's chain check (the items alone have lost the bytes and the headers).
        self.record: ConsumerRecord | None = None
        self.found: list[Positioned] = []
        self.on_record: Callable[[ConsumerRecord], None] | None = None
        self.chain: Any = None  # the ChainCheck that on_record feeds (audit.verify.follow_live)

    @property
    def done(self) -> int:
        partition, position = self._current
        return self._finished + max(0, position - self.begin.get(partition, 0))

    def items(self, until: int | None = None) -> Iterator[Item]:
        """Records up to the end offsets taken when this log was opened, all partitions at
        once: a consistent cut, so a credit in it always has its approval in it too (the
        approval was committed before the credit command existed). With `until`, each
        partition stops at its first later event."""
        for p in self.partitions:
            for record in read_partition(self.consumer, self.topic, p, self.begin[p]):
                if record.offset >= self.end[p]:
                    break
                self._current = (p, record.offset + 1)
                self.record, self.found = record, []
                if self.on_record is not None:
                    self.on_record(record)
                try:
                    found = self.found = decode_positioned(p, record.offset, record.value)
                except SchemaError as exc:
                    yield Undecodable(
                        p, record.offset, exc.code, str(exc), record.key, record.value
                    )
                    continue
                if until is not None and found[-1][2].occurred_at > until:
                    # One decision's events share its time: the record is in or out whole.
                    break
                yield from found
            self._finished += self.end[p] - self.begin[p]
            self._current = (p, 0)

    def close(self) -> None:
        self.consumer.close()


def file_range(path: str | Path, start: int, stop: int, first_line: int) -> Iterator[Item]:
    """The items of an export's lines from byte `start` up to `stop`, numbered from
    `first_line`: a parallel worker's piece of the file (cut at line starts)."""
    with open(path, "rb") as f:
        f.seek(start)
        number, left = first_line, stop - start
        while left > 0:
            line = f.readline()
            if not line:
                break
            left -= len(line)
            if line.strip():
                yield parse_line(line, number)
            number += 1


def parse_line(line: bytes | str, number: int) -> Item:
    """One export line: an event, or a record exported raw because it did not decode.

    A line that is not valid JSON with a partition and offset cannot be placed in the log
    at all and raises SchemaError; a line whose event is invalid becomes Undecodable.
    """
    try:
        obj = json.loads(line)
        partition, offset = obj.pop("partition"), obj.pop("offset")
        index = obj.pop("index", 0)  # files exported before records held several events
    except ValueError as exc:
        raise SchemaError(f"line {number}: not JSON ({exc})", "bad_export") from exc
    except (KeyError, AttributeError, TypeError) as exc:
        # Valid JSON, but not an export record: a task file, a report, another tool's output.
        missing = f"no {exc} field" if isinstance(exc, KeyError) else "not a JSON object"
        raise SchemaError(f"line {number}: not an export record ({missing}); "
                          "`piecework export` writes one", "bad_export") from exc  # fmt: skip
    raw = obj.get("undecodable")
    if isinstance(raw, dict):
        key, value = raw.get("key"), raw.get("value")
        return Undecodable(
            partition, offset, str(raw.get("code")), str(raw.get("error")),
            None if key is None else bytes.fromhex(key),
            None if value is None else bytes.fromhex(value),
        )  # fmt: skip
    try:
        return partition, position(offset, index), event_from_plain(obj)
    except (SchemaError, ValueError, TypeError) as exc:
        return Undecodable(partition, offset, "bad_export", f"line {number}: {exc}", None, None)


class FileLog:
    """An export file (schemas.jsonform lines, plus raw lines for undecodable records)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.label = str(self.path)
        self.partitions: list[int] = []  # known once read
        self.total = self.path.stat().st_size
        self.done = 0

    def items(self, until: int | None = None) -> Iterator[Item]:
        return up_to(self._parsed(), until)

    def _parsed(self) -> Iterator[Item]:
        with self.path.open("rb") as f:
            for number, line in enumerate(f, 1):
                self.done += len(line)
                if line.strip():
                    yield parse_line(line, number)


def up_to(items: Iterable[Item], until: int | None) -> Iterator[Item]:
    """Each partition's items before its first event later than `until` (all without it)."""
    stopped: set[int] = set()
    for item in items:
        if item[0] in stopped:
            continue
        if until is not None and type(item) is tuple and item[2].occurred_at > until:
            stopped.add(item[0])
            continue
        yield item
