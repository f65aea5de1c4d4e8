"""The latest signed checkpoint on `<prefix>.checkpoints` (consumers/timers/checkpoints.py).

Read by `piecework checkpoint`, by the checkpointer (for `previous`) and by the API's
public GET /v1/checkpoint, which keeps what it read for CACHE_SECONDS: a public route
must not open a Kafka connection per request.
"""

from __future__ import annotations

import asyncio
import time

from kafka import KafkaConsumer, TopicPartition

from runtime.kafka_io import read_partition, snapshot_consumer
from schemas.topics import Topics

CHECKPOINT_PARTITION = 0
CACHE_SECONDS = 5.0
TAIL = 16  # records read back from the end: the last one is a checkpoint


def latest(consumer: KafkaConsumer, topics: Topics) -> bytes | None:
    """The last checkpoint document on the checkpoints topic (None: none yet)."""
    found = None
    tp = TopicPartition(topics.checkpoints, CHECKPOINT_PARTITION)
    end = consumer.end_offsets([tp])[tp]
    for record in read_partition(consumer, topics.checkpoints, CHECKPOINT_PARTITION,
                                 max(0, end - TAIL)):  # fmt: skip
        found = record.value
    return found


def read_latest(bootstrap: str, topics: Topics) -> bytes | None:
    consumer = snapshot_consumer(bootstrap, "piecework-checkpoint-reader")
    try:
        return latest(consumer, topics)
    finally:
        consumer.close()


class LatestCheckpoint:
    """read_latest off the event loop, shared by concurrent requests, kept a few seconds."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self.bootstrap, self.topics = bootstrap, topics
        self.read_at = -CACHE_SECONDS
        self.value: bytes | None = None
        self.lock = asyncio.Lock()

    async def get(self) -> bytes | None:
        async with self.lock:
            if time.monotonic() - self.read_at >= CACHE_SECONDS:
                self.value = await asyncio.to_thread(read_latest, self.bootstrap, self.topics)
                self.read_at = time.monotonic()
            return self.value
