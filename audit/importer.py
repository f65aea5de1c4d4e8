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

from collections.abc import Callable
from pathlib import Path

from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from audit.logfile import group_records, key_and_value, source_records
from audit.source import FileLog, Item, KafkaLog, Undecodable
from broker.domain.stamping import credits
from schemas import events as ev
from schemas.codec import encode_command
from schemas.envelope import EventEnvelope
from schemas.topics import Topics

CHUNK = 5_000
TICK_EVERY = 2_048
_PAYING = (ev.SubmissionApproved, ev.BonusGranted, ev.RejectionOverturned)


class ImportRefused(Exception):
    """The target cannot take this file as it is; nothing was written."""


def _identity(item: Item) -> str:
    return item.value.hex() if isinstance(item, Undecodable) else item[2].event_id  # type: ignore[union-attr]


class Importer:
    def __init__(self, path: str | Path, bootstrap: str, topics: Topics) -> None:
        self.path, self.bootstrap, self.topics = Path(path), bootstrap, topics
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
        seen: dict[int, int] = {}
        misplaced = 0
        paying: dict[str, EventEnvelope] = {}
        credited: set[str] = set()
        for item in self.log.items():
            p = item[0]
            if not 0 <= p < self.partitions:
                raise ImportRefused(
                    f"partition {p} does not exist in {self.topic} ({self.partitions} partitions)"
                )
            key, _ = key_and_value(item)
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
        count = sum(seen.values())
        if misplaced and not force:
            raise ImportRefused(
                f"{misplaced} of {count} records have keys that {self.partitions} partitions "
                "would route elsewhere: the export came from a topic with another partition "
                "count (--force to import anyway)"
            )
        self.uncredited = [env for event_id, env in paying.items() if event_id not in credited]
        self.log.done = 0
        return count

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
        seen: dict[int, int] = {}
        try:
            producer.init_transactions()
            for group in source_records(self.log.items()):
                p = group[0][0]
                before = seen.get(p, 0)
                seen[p] = before + len(group)
                n += len(group)
                if tick is not None and n % TICK_EVERY < len(group):
                    tick()
                # Already there (resume): whole records only, as each went in one transaction.
                missing = group[max(0, len(self.present[p]) - before) :]
                if not missing:
                    continue
                if not in_chunk:
                    producer.begin_transaction()
                for key, value in group_records(missing):
                    producer.send(self.topic, value, key=key, partition=p)
                written, in_chunk = written + len(missing), in_chunk + len(missing)
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
