"""What the processor holds for one owned partition, and how it is rebuilt from the log."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from kafka import KafkaConsumer

from broker.domain.shard import Shard
from broker.processor.chain import PartitionChain
from runtime.kafka_io import read_partition
from runtime.metrics import REBUILD_SECONDS
from schemas.codec import decode_events, decode_reply
from schemas.errors import SchemaError
from schemas.topics import Topics

log = logging.getLogger(__name__)


@dataclass
class PartitionState:
    """The aggregates of one partition, and the reply of every command it decided.

    Replies are remembered by command id so a retried command gets its first answer
    back and decides nothing again (event ids derive from command ids, too).
    """

    partition: int
    shard: Shard = field(default_factory=Shard)
    # Encoded as on the replies topic: a retry is answered with the same bytes, and a
    # kept reply costs ~200 B instead of ~1 KB of objects (replies are kept forever).
    replies: dict[str, bytes] = field(default_factory=dict)
    events_applied: int = 0
    skipped_records: int = 0
    chain: PartitionChain = field(init=False)  # the events partition's hash chain head

    def __post_init__(self) -> None:
        self.chain = PartitionChain(self.partition)


def rebuild(reader: KafkaConsumer, topics: Topics, partition: int) -> PartitionState:
    """Fold the partition's committed events and replies into a fresh state.

    A record that does not decode is counted and skipped here: the view consumers, which
    read the same topic once with committed offsets, are the ones that dead-letter it.
    """
    started = time.perf_counter()
    state = PartitionState(partition)
    for record in read_partition(reader, topics.events, partition):
        state.chain.observe(record.value, record.headers)
        try:
            for env in decode_events(record.value):
                state.shard.apply(env)
                state.events_applied += 1
        except SchemaError as exc:
            state.skipped_records += 1
            log.warning("skipping undecodable event at %s/%s: %s", partition, record.offset, exc)
        except ValueError as exc:
            # A sequence gap means a foreign writer touched the log: keep serving the
            # partition, and leave the finding to `piecework audit`, which fails on it.
            state.skipped_records += 1
            log.error("event out of sequence at %s/%s: %s", partition, record.offset, exc)
    for record in read_partition(reader, topics.replies, partition):
        try:
            reply = decode_reply(record.value)
        except SchemaError:
            state.skipped_records += 1
            continue
        # The first reply to a command id is its decision; later ones are answers again,
        # or refusals of a reused Idempotency-Key, which must not replace it.
        state.replies.setdefault(reply.command_id, record.value)
    elapsed = time.perf_counter() - started
    REBUILD_SECONDS.observe(elapsed)
    log.info(
        "partition %s rebuilt: %s events, %s replies in %.2fs",
        partition,
        state.events_applied,
        len(state.replies),
        elapsed,
    )
    return state
