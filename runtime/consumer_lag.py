"""Consumer lag of the processor and views groups, polled from Kafka into a gauge.

Lag is asked of the broker (committed offsets vs end offsets), not reported by the
consumers themselves, so a stuck or dead consumer still shows a growing lag. It runs in
the timer role: one poller per deployment.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from kafka import IsolationLevel, TopicPartition
from kafka.admin import KafkaAdminClient, OffsetSpec
from kafka.errors import KafkaError, UnknownTopicOrPartitionError

from runtime import metrics
from runtime.settings import Settings

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 5.0


def lag(committed: Mapping[int, int], ends: Mapping[int, int], starts: Mapping[int, int]) -> int:
    """Sum over partitions of end - committed; an uncommitted partition starts at the log
    start (the groups reset to earliest). Never negative: ends can be read before commits."""
    total = 0
    for partition, end in ends.items():
        position = committed.get(partition, -1)
        if position < 0:
            position = starts.get(partition, 0)
        total += max(end - position, 0)
    return total


def groups(settings: Settings) -> dict[str, tuple[str, str]]:
    """gauge label -> (Kafka group id, topic it consumes)."""
    prefix = settings.topics.prefix
    return {
        "processor": (f"{prefix}-processor", settings.topics.commands),
        "views": (f"{prefix}-views", settings.topics.events),
    }


def group_lag(admin: KafkaAdminClient, group_id: str, topic: str) -> int:
    (described,) = admin.describe_topics([topic])
    tps = [TopicPartition(topic, p["partition_index"]) for p in described["partitions"]]
    if not tps:  # a missing topic is not a lag of 0
        raise UnknownTopicOrPartitionError(topic)
    # Both groups read committed, so their end is the last stable offset.
    ends = admin.list_partition_offsets(
        {tp: OffsetSpec.LATEST for tp in tps}, isolation_level=IsolationLevel.READ_COMMITTED
    )
    starts = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in tps})
    committed = admin.list_group_offsets({group_id: tps}).get(group_id, {})
    return lag(
        {tp.partition: meta.offset for tp, meta in committed.items()},
        {tp.partition: o.offset for tp, o in ends.items()},
        {tp.partition: o.offset for tp, o in starts.items()},
    )


def poll_once(admin: KafkaAdminClient, settings: Settings) -> None:
    for label, (group_id, topic) in groups(settings).items():
        try:
            metrics.CONSUMER_LAG.labels(label).set(group_lag(admin, group_id, topic))
        except KafkaError as exc:
            # A stale lag would look healthy: drop the series until it can be read again.
            log.warning("consumer lag of %s unavailable: %s", group_id, exc)
            metrics.CONSUMER_LAG.remove(label)


def run_lag_poller(
    settings: Settings, stop: threading.Event, interval: float = INTERVAL_SECONDS
) -> None:
    admin: KafkaAdminClient | None = None
    while not stop.is_set():
        try:
            if admin is None:
                admin = KafkaAdminClient(
                    bootstrap_servers=settings.kafka, client_id="piecework-lag"
                )
            poll_once(admin, settings)
        except Exception:  # Kafka not up yet or gone: retry with a fresh client
            log.exception("consumer lag poll failed")
            for label in groups(settings):
                metrics.CONSUMER_LAG.remove(label)
            if admin is not None:
                admin.close()
            admin = None
        stop.wait(interval)
    if admin is not None:
        admin.close()


def start_lag_poller(settings: Settings) -> threading.Event:
    """Start the poller thread (daemon: it must never hold the process up); set to stop."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_lag_poller, args=(settings, stop), name="piecework-lag", daemon=True
    )
    thread.start()
    return stop
