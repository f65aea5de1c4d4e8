"""Signed checkpoints of the events log, taken by the timer role (docs/AUDIT.md).

The checkpointer follows the events topic read committed: each partition's chain head
(schemas.chain.follow: the last header, or the implied link of a record from before the
chain) and the ledger view folded from the same records, so the money totals describe
exactly the records the heads cover. Every `checkpoint_seconds` it signs the heads, the
positions and the totals with the operator's Ed25519 key and appends the document to
`<prefix>.checkpoints` (partition 0), where `piecework checkpoint` finds the latest to
publish. Each names the SHA-256 of the one before it (`previous`).

Why a topic of its own and not an event in the events topic: a checkpoint of the events
partitions' heads written into one of those partitions would move the head it states,
and only the processor may write there (a second writer would fork the chain). The
checkpoint commits to the events log; the log does not need to hold it.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from consumers.engine.runner import fold_log
from consumers.queries.checkpoint_query import CHECKPOINT_PARTITION, latest
from consumers.stores.memory_store import MemoryStore
from consumers.views import registry
from consumers.views.ledger import ledger_totals
from runtime.kafka_io import partition_ids, read_partition, snapshot_consumer
from runtime.settings import Settings
from runtime.signing import load_private, sign
from schemas.chain import Follower, header_of
from schemas.checkpoint import Checkpoint, PartitionMark, SignedCheckpoint, fingerprint
from schemas.codec import decode_positioned
from schemas.errors import SchemaError
from schemas.topics import Topics

log = logging.getLogger(__name__)
_LEDGER = {"ledger": registry.BY_NAME["ledger"].project}


class Checkpointer:
    """The heads and money totals of the events log, followed incrementally."""

    def __init__(self, consumer: KafkaConsumer, topics: Topics) -> None:
        self.consumer, self.topics = consumer, topics
        self.heads: dict[int, Follower] = {}
        self.next_offset: dict[int, int] = {}
        self.store = MemoryStore()
        self.previous = ""

    def catch_up(self) -> None:
        """Read every partition up to the end offsets taken now (one cut for all)."""
        topic = self.topics.events
        tps = [TopicPartition(topic, p) for p in partition_ids(self.consumer, topic)]
        ends = {tp.partition: o for tp, o in self.consumer.end_offsets(tps).items()}
        for p, end in sorted(ends.items()):
            start = self.next_offset.get(p, 0)
            follower = self.heads.setdefault(p, Follower(p))
            events = []
            for record in read_partition(self.consumer, topic, p, start):
                if record.offset >= end:
                    break
                follower.observe(record.value, header_of(record.headers))
                # An undecodable record is in the chain; the audit accounts for it.
                with contextlib.suppress(SchemaError):
                    events.extend(decode_positioned(p, record.offset, record.value))
            fold_log(events, self.store, _LEDGER)
            self.next_offset[p] = max(start, end)

    def take(self, now_ms: int) -> Checkpoint:
        self.catch_up()
        marks = {p: PartitionMark(f.head.n, f.head.head.hex(), self.next_offset[p])
                 for p, f in self.heads.items()}  # fmt: skip
        return Checkpoint(self.topics.events, now_ms, marks, ledger_totals(self.store),
                          self.previous)  # fmt: skip

    def signed(self, now_ms: int, key_path: str) -> SignedCheckpoint:
        signed = sign(self.take(now_ms), load_private(key_path))
        self.previous = fingerprint(signed.checkpoint.signed_bytes())
        return signed


def publish(producer: KafkaProducer, topics: Topics, signed: SignedCheckpoint) -> None:
    producer.send(topics.checkpoints, signed.document(), key=b"checkpoint",
                  partition=CHECKPOINT_PARTITION)  # fmt: skip
    producer.flush()


def take_and_publish(settings: Settings, key_path: str) -> SignedCheckpoint:
    """One checkpoint now, from the whole log (`piecework checkpoint --now`)."""
    consumer = snapshot_consumer(settings.kafka, "piecework-checkpoint")
    producer = KafkaProducer(bootstrap_servers=settings.kafka, client_id="piecework-checkpoint")
    try:
        checkpointer = Checkpointer(consumer, settings.topics)
        checkpointer.previous = _previous(consumer, settings.topics)
        signed = checkpointer.signed(settings.clock().now_ms(), key_path)
        publish(producer, settings.topics, signed)
        return signed
    finally:
        consumer.close()
        producer.close()


def _previous(consumer: KafkaConsumer, topics: Topics) -> str:
    from schemas.checkpoint import BadCheckpoint, parse_document

    raw = latest(consumer, topics)
    if raw is None:
        return ""
    try:
        return fingerprint(parse_document(raw).checkpoint.signed_bytes())
    except BadCheckpoint:
        log.error("the last record of %s is not a checkpoint", topics.checkpoints)
        return ""


def run_checkpoints(settings: Settings, stop: threading.Event) -> None:
    """The timer role's checkpoint loop: one signed checkpoint every checkpoint_seconds."""
    key_path = settings.checkpoint_key
    if not key_path:
        return
    load_private(key_path)  # fails before the loop (run_timers checked it already)
    consumer = snapshot_consumer(settings.kafka, "piecework-checkpointer")
    producer = KafkaProducer(bootstrap_servers=settings.kafka, client_id="piecework-checkpointer")
    checkpointer = Checkpointer(consumer, settings.topics)
    clock = settings.clock()
    try:
        checkpointer.previous = _previous(consumer, settings.topics)
        while not stop.is_set():
            try:
                signed = checkpointer.signed(clock.now_ms(), key_path)
                publish(producer, settings.topics, signed)
                log.info("checkpoint %s signed", fingerprint(signed.checkpoint.signed_bytes()))
            except Exception:  # Kafka hiccup: the next period tries again from where it was
                log.exception("checkpoint failed")
            stop.wait(settings.checkpoint_seconds)
    finally:
        consumer.close()
        producer.close()
