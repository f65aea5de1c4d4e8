"""Small kafka-python helpers shared by the processor, the API and the audit. I/O edge."""

from __future__ import annotations

from collections.abc import Iterator

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord


def snapshot_consumer(bootstrap: str, client_id: str) -> KafkaConsumer:
    """A group-less, read-committed consumer for reading partitions from the start."""
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )


def partition_ids(consumer: KafkaConsumer, topic: str) -> list[int]:
    found = consumer.partitions_for_topic(topic)
    if not found:
        raise RuntimeError(f"topic {topic} does not exist (run `piecework up`)")
    return sorted(found)


def read_partition(
    consumer: KafkaConsumer, topic: str, partition: int, start: int = 0
) -> Iterator[ConsumerRecord]:
    """Every committed record of one partition from `start` up to its end at call time.

    The end is the last stable offset (read_committed), so an open transaction of a
    crashed writer is neither read nor waited for.
    """
    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    end = consumer.end_offsets([tp])[tp]
    if start >= end:
        return
    consumer.seek(tp, start)
    while consumer.position(tp) < end:
        for record in consumer.poll(timeout_ms=1_000, max_records=10_000).get(tp, []):
            if record.offset >= end:
                return
            yield record


def read_topic(
    bootstrap: str, topic: str, client_id: str = "piecework-reader"
) -> Iterator[ConsumerRecord]:
    """All committed records of a topic, partition by partition."""
    consumer = snapshot_consumer(bootstrap, client_id)
    try:
        for partition in partition_ids(consumer, topic):
            yield from read_partition(consumer, topic, partition)
    finally:
        consumer.close()


def last_data_offsets(consumer: KafkaConsumer, topic: str, tail: int = 64) -> dict[int, int]:
    """Offset of the last committed record of each partition (-1 when none).

    Transaction markers take offsets too, so "end offset - 1" is often a marker, not a
    record: a consumer that has read everything can still look one behind. Reading the
    last few offsets finds the real last record.
    """
    last: dict[int, int] = {}
    for partition in partition_ids(consumer, topic):
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        end = consumer.end_offsets([tp])[tp]
        found = -1
        start = end
        while found < 0 and start > consumer.beginning_offsets([tp])[tp]:
            start = max(0, start - tail)
            for record in read_partition(consumer, topic, partition, start):
                found = record.offset
            if start == 0:
                break
        last[partition] = found
    return last
