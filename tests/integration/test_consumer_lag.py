"""Consumer lag read from a real Kafka: committed offsets vs end offsets, per group."""

from __future__ import annotations

from collections.abc import Callable

from kafka import KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.structs import OffsetAndMetadata

from runtime.consumer_lag import group_lag, poll_once
from runtime.metrics_roles import role_registry
from runtime.settings import Settings
from schemas.topics import Topics


def test_lag_counts_what_each_group_has_not_committed(
    kafka_bootstrap: str, create_topic: Callable[..., str], unique_name: str
) -> None:
    events = create_topic("events", partitions=2)
    commands = create_topic("commands", partitions=2)
    with KafkaProducer(bootstrap_servers=kafka_bootstrap) as producer:
        for partition, count in ((0, 5), (1, 3)):
            for _ in range(count):
                producer.send(events, b"e", partition=partition)
        producer.send(commands, b"c", partition=0)
        producer.flush()
    settings = Settings(kafka=kafka_bootstrap, topics=Topics(unique_name))
    views_group = f"{unique_name}-views"
    with KafkaAdminClient(bootstrap_servers=kafka_bootstrap) as admin:
        committed = {TopicPartition(events, 0): OffsetAndMetadata(2, "", -1)}
        admin.alter_group_offsets(views_group, committed)
        # p0: 5 - 2; p1 never committed, read from its start: 3
        assert group_lag(admin, views_group, events) == 6
        poll_once(admin, settings)

    def lag_of(group: str) -> float | None:
        return role_registry("timers").get_sample_value("piecework_consumer_lag", {"group": group})

    assert lag_of("views") == 6
    assert lag_of("processor") == 1  # a group that never committed lags by the whole log
