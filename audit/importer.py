"""Import an export file into the EMPTY events topic of a deployment (moving, restoring).

Partition numbers are kept, so a target whose partition count would route an aggregate's
future commands elsewhere is refused (every event's key must hash to its partition there).
One Kafka transaction per chunk with a stable transactional id: a crash leaves only whole
chunks visible, a rerun fences the crashed one, and `resume` writes what is missing once it
has checked that each partition holds a prefix of the file.

The outbox travels too: an approval, bonus or overturn whose credit the file lacks had its
CreditWorker command in flight on the old deployment's commands topic, which is not moved.
Its command is re-issued to the new one, with the same id (credit:<event id>); the wallet
refuses a second credit of one source, so re-issuing is always safe.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from audit.logfile import group_records, record_key, source_records
from audit.parallel import SERIAL_BELOW, fork_pool
from audit.source import FileLog, Item, KafkaLog, Undecodable, file_range, parse_line
from broker.domain.stamping import credits
from schemas import events as ev
from schemas.codec import encode_command
from schemas.envelope import EventEnvelope
from schemas.errors import SchemaError
from schemas.topics import Topics

CHUNK = 5_000
TICK_EVERY = 2_048
PIECE = 5_000  # lines a worker reads at a time in a parallel import
_PAYING = (ev.SubmissionApproved, ev.BonusGranted, ev.RejectionOverturned)


class ImportRefused(Exception):
    """The target cannot take this file as it is; nothing was written."""


def _identity(item: Item) -> str:
    return item.value.hex() if isinstance(item, Undecodable) else item[2].event_id  # type: ignore[union-attr]


class Importer:
    """`jobs` > 1: the file is read, decoded and re-encoded in that many forked processes,
    a piece of consecutive lines each, and written by this one in file order with the
    same transactions; only for a fresh import of a file whose every line is placed (a
    --resume, a small file or an odd line: serially, in this process)."""

    def __init__(self, path: str | Path, bootstrap: str, topics: Topics, jobs: int = 1) -> None:
        self.path, self.bootstrap, self.topics = Path(path), bootstrap, topics
        self.jobs = jobs
        self._pieces: list[Piece] | None = None
        self.topic = topics.events
        self.log = FileLog(self.path)
        self.uncredited: list[EventEnvelope] = []
        target = KafkaLog(bootstrap, self.topic, "piecework-import")
        try:
            self.partitions = len(target.partitions)
            self.present: dict[int, list[str]] = {p: [] for p in target.partitions}
            if target.total:
                for item in target.items():
                    self.present[item[0]].append(_identity(item))
        finally:
            target.close()

    @property
    def existing(self) -> int:
        return sum(len(ids) for ids in self.present.values())

    def check(self, resume: bool = False, force: bool = False) -> int:
        """Read the file once; raise ImportRefused unless it can go in. Returns its records."""
        if self.existing and not resume:
            raise ImportRefused(
                f"{self.topic} already holds {self.existing} records; import needs an empty "
                "topic (or --resume after a crashed import)"
            )
        self._pieces = None if self.existing or self.jobs < 2 else pieces(self.path)
        if self._pieces is not None:
            count, misplaced, uncredited = self._check_parallel(self._pieces)
        else:
            count, misplaced, uncredited = self._check_serial()
        if misplaced and not force:
            raise ImportRefused(
                f"{misplaced} of {count} records have keys that {self.partitions} partitions "
                "would route elsewhere: the export came from a topic with another partition "
                "count (--force to import anyway)"
            )
        self.uncredited = uncredited
        self.log.done = 0
        return count

    def _check_serial(self) -> tuple[int, int, list[EventEnvelope]]:
        seen: dict[int, int] = {}
        misplaced = 0
        paying: dict[str, EventEnvelope] = {}
        credited: set[str] = set()
        for item in self.log.items():
            p = item[0]
            if not 0 <= p < self.partitions:
                raise self._no_partition(p)
            key = record_key(item)
            if key is not None and (murmur2(key) & 0x7FFFFFFF) % self.partitions != p:
                misplaced += 1
            k = seen[p] = seen.get(p, 0) + 1
            there = self.present[p]
            if k <= len(there) and there[k - 1] != _identity(item):
                raise ImportRefused(
                    f"{self.topic} partition {p} is not a prefix of the file (record {k} "
                    "differs): cannot resume"
                )
            if type(item) is tuple:
                env = item[2]
                if isinstance(env.event, _PAYING):
                    paying[env.event_id] = env
                elif isinstance(env.event, ev.WorkerCredited):
                    credited.add(env.event.source_event_id)
        uncredited = [env for event_id, env in paying.items() if event_id not in credited]
        return sum(seen.values()), misplaced, uncredited

    def _no_partition(self, p: int) -> ImportRefused:
        return ImportRefused(
            f"partition {p} does not exist in {self.topic} ({self.partitions} partitions)"
        )

    def _check_parallel(
        self, planned: list[Piece]
    ) -> tuple[int, int, list[EventEnvelope]]:  # fmt: skip
        """What the serial check finds, from the pieces' findings merged in file order:
        the first refusal the serial pass would raise, counts summed, and the paying
        events (first seen order, last seen line) and credits; the paying events are named
        by their line's place, read back only for the few left uncredited."""
        count = misplaced = 0
        paying: dict[str, tuple[int, int]] = {}
        credited: set[str] = set()
        for piece, found in zip(planned, _in_order(check_piece, planned, self.partitions,
                                                   self.jobs), strict=True):  # fmt: skip
            if isinstance(found, SchemaError):
                raise found
            n, bad, wrong, pays, credits_ = found
            if bad is not None:
                raise self._no_partition(bad)
            count, misplaced = count + n, misplaced + wrong
            paying.update(pays)
            credited |= credits_
            self.log.done = piece.stop
        owed = [where for event_id, where in paying.items() if event_id not in credited]
        return count, misplaced, [_envelope(self.path, where) for where in owed]

    def write(self, chunk: int = CHUNK, tick: Callable[[], None] | None = None) -> int:
        """Write every record not yet present, one transaction per `chunk` events, then the
        outbox credits still owed; returns how many events were written (each decision's
        events go back as one record, as in the exported topic)."""
        producer = KafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id="piecework-import",
            transactional_id=f"piecework-import:{self.topic}",
            linger_ms=5,
            batch_size=512 * 1024,
            max_request_size=16 * 1024 * 1024,
        )
        written = in_chunk = n = 0
        groups = self._serial_groups() if self._pieces is None else self._parallel_groups()
        try:
            producer.init_transactions()
            for p, size, missing, records in groups:
                n += size
                if tick is not None and n % TICK_EVERY < size:
                    tick()
                if not missing:
                    continue
                if not in_chunk:
                    producer.begin_transaction()
                for key, value in records:
                    producer.send(self.topic, value, key=key, partition=p)
                written, in_chunk = written + missing, in_chunk + missing
                if in_chunk >= chunk:
                    producer.commit_transaction()
                    in_chunk = 0
            if not in_chunk and self.uncredited:
                producer.begin_transaction()
            for command in credits(self.uncredited):
                key = command.partition_key.encode()
                producer.send(self.topics.commands, encode_command(command), key=key)
            if in_chunk or self.uncredited:
                producer.commit_transaction()
        finally:
            producer.close()  # an open transaction is aborted by the broker (or a rerun)
        return written

    def _serial_groups(self) -> Iterator[tuple[int, int, int, list[tuple[bytes | None, bytes]]]]:
        """Per source record of the file: its partition, its events, how many of them are
        missing from the topic and their Kafka records."""
        seen: dict[int, int] = {}
        for group in source_records(self.log.items()):
            p = group[0][0]
            before = seen.get(p, 0)
            seen[p] = before + len(group)
            # Already there (resume): whole records only, as each went in one transaction.
            missing = group[max(0, len(self.present[p]) - before) :]
            yield p, len(group), len(missing), group_records(missing) if missing else []

    def _parallel_groups(self) -> Iterator[tuple[int, int, int, list[tuple[bytes | None, bytes]]]]:
        """The same from the workers, piece by piece in file order (a fresh import: every
        event is missing)."""
        assert self._pieces is not None
        for piece, found in zip(self._pieces, _in_order(encode_piece, self._pieces, None,
                                                        self.jobs), strict=True):  # fmt: skip
            if isinstance(found, SchemaError):
                raise found
            for p, size, records in found:
                yield p, size, size, records
            self.log.done = piece.stop


# --- the parallel import's pieces of the file ------------------------------------------

_PLACED = re.compile(rb'\{"partition":\s*(\d+)\s*,\s*"offset":\s*(\d+)\s*[,}]')


class Piece(NamedTuple):
    """Consecutive lines of the file, never splitting one Kafka record's events."""

    path: str
    start: int  # bytes
    stop: int
    first_line: int


def pieces(path: Path, every: int | None = None) -> list[Piece] | None:
    """The file in pieces of about `every` lines, cut only between two records; None when
    a serial import is the better or the only exact one (a small file, a line that does
    not start with its partition and offset)."""
    if path.stat().st_size < SERIAL_BELOW * 300:  # ~300 bytes an event line
        return None
    every = PIECE if every is None else every
    cuts: list[Piece] = []
    start = at = lines = 0
    first, number, last = 1, 1, None
    with path.open("rb") as f:
        for line in f:
            found = _PLACED.match(line)
            if found is None:
                if line.strip():
                    return None
            else:
                here = found.group(1, 2)
                if lines >= every and here != last:
                    cuts.append(Piece(str(path), start, at, first))
                    start, first, lines = at, number, 0
                last = here
            at += len(line)
            number += 1
            lines += 1
    cuts.append(Piece(str(path), start, at, first))
    return cuts if len(cuts) > 1 else None


def _lines(piece: Piece) -> Iterator[Item]:
    return file_range(piece.path, piece.start, piece.stop, piece.first_line)


def check_piece(args: tuple[Piece, int]) -> tuple | SchemaError:
    """A worker's check of one piece: (events, the first partition the target lacks,
    misplaced keys, paying events by (byte, line) of their line, credited sources); a
    line that cannot be read is returned (raised by the parent, in file order)."""
    piece, partitions = args
    count = misplaced = 0
    paying: dict[str, tuple[int, int]] = {}
    credited: set[str] = set()
    at, number = piece.start, piece.first_line
    try:
        with open(piece.path, "rb") as f:
            f.seek(piece.start)
            while at < piece.stop:
                line = f.readline()
                if not line:
                    break
                if line.strip():
                    item = parse_line(line, number)
                    p = item[0]
                    if not 0 <= p < partitions:
                        return count, p, misplaced, paying, credited
                    key = record_key(item)
                    if key is not None and (murmur2(key) & 0x7FFFFFFF) % partitions != p:
                        misplaced += 1
                    count += 1
                    if type(item) is tuple:
                        env = item[2]
                        if isinstance(env.event, _PAYING):
                            paying[env.event_id] = (at, number)
                        elif isinstance(env.event, ev.WorkerCredited):
                            credited.add(env.event.source_event_id)
                at += len(line)
                number += 1
    except SchemaError as exc:
        return exc
    return count, None, misplaced, paying, credited


def encode_piece(args: tuple[Piece, None]) -> list[tuple[int, int, list]] | SchemaError:
    """A worker's share of the write: each source record of the piece as (partition,
    events, its Kafka records)."""
    try:
        return [(group[0][0], len(group), group_records(group))
                for group in source_records(_lines(args[0]))]  # fmt: skip
    except SchemaError as exc:
        return exc


def _envelope(path: Path, where: tuple[int, int]) -> EventEnvelope:
    with path.open("rb") as f:
        f.seek(where[0])
        item = parse_line(f.readline(), where[1])
    assert type(item) is tuple  # it decoded in the worker
    return item[2]


def _in_order(work: Callable[[Any], Any], planned: list[Piece], arg: Any,
              jobs: int) -> Iterator[Any]:  # fmt: skip
    """`work` of each piece in forked processes, yielded in file order, at most 2 x jobs
    pieces ahead of the consumer (a piece's records wait in memory until written)."""
    with fork_pool(jobs) as pool:
        ahead: deque[Any] = deque()
        for piece in planned:
            ahead.append(pool.apply_async(work, ((piece, arg),)))
            if len(ahead) >= 2 * jobs:
                yield ahead.popleft().get()
        while ahead:
            yield ahead.popleft().get()
