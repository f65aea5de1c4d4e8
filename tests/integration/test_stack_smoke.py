"""The stack is real: Kafka transactions, read_committed isolation, offsets committed inside
a transaction, a Faust agent on the broker writing to Redis, and Redis itself."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.structs import OffsetAndMetadata

from schemas.topics import Topics


def _consumer(bootstrap: str, isolation: str, **extra: object) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level=isolation,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **extra,
    )


def _read(consumer: KafkaConsumer, until: Callable[[list[bytes]], bool], timeout: float = 30.0
          ) -> list[bytes]:
    """Poll until `until(values)` holds or time runs out; returns what was read."""
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    while not until(values) and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            values.extend(r.value for r in records)
    return values


def _read_partition(bootstrap: str, topic: str, isolation: str, last: bytes) -> list[bytes]:
    consumer = _consumer(bootstrap, isolation)
    consumer.assign([TopicPartition(topic, 0)])
    try:
        return _read(consumer, lambda values: last in values)
    finally:
        consumer.close()


def _tx_producer(bootstrap: str, name: str) -> KafkaProducer:
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{name}.tx")
    producer.init_transactions()
    return producer


def test_transactional_round_trip_read_committed(kafka_bootstrap, create_topic, unique_name):
    topic = create_topic("tx")
    producer = _tx_producer(kafka_bootstrap, unique_name)
    producer.begin_transaction()
    for i in range(3):
        producer.send(topic, key=b"k", value=f"v{i}".encode())
    producer.commit_transaction()
    producer.close()

    assert _read_partition(kafka_bootstrap, topic, "read_committed", b"v2") == [b"v0", b"v1", b"v2"]


def test_aborted_transaction_is_invisible_to_read_committed(
    kafka_bootstrap, create_topic, unique_name
):
    topic = create_topic("abort")
    producer = _tx_producer(kafka_bootstrap, unique_name)
    producer.begin_transaction()
    producer.send(topic, value=b"aborted-1")
    producer.send(topic, value=b"aborted-2")
    producer.flush()  # on the broker, so only the abort can hide them
    producer.abort_transaction()
    producer.begin_transaction()
    producer.send(topic, value=b"committed")
    producer.commit_transaction()
    producer.close()

    committed = _read_partition(kafka_bootstrap, topic, "read_committed", b"committed")
    everything = _read_partition(kafka_bootstrap, topic, "read_uncommitted", b"committed")

    assert committed == [b"committed"]
    # The same log read without isolation shows the aborted records: the check above can fail.
    assert everything == [b"aborted-1", b"aborted-2", b"committed"]


def test_send_offsets_to_transaction_commits_consumer_offset(
    kafka_bootstrap, create_topic, unique_name
):
    source, sink = create_topic("in"), create_topic("out")
    plain = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for i in range(5):
        plain.send(source, value=f"m{i}".encode())
    plain.close()

    group = f"{unique_name}.group"
    consumer = _consumer(kafka_bootstrap, "read_committed", group_id=group)
    consumer.subscribe([source])
    tp = TopicPartition(source, 0)
    try:
        inputs = _read(consumer, lambda values: len(values) >= 5)
        assert inputs == [f"m{i}".encode() for i in range(5)]
        assert consumer.committed(tp) is None

        producer = _tx_producer(kafka_bootstrap, unique_name)
        producer.begin_transaction()
        for value in inputs:
            producer.send(sink, value=value.upper())
        producer.send_offsets_to_transaction(
            {tp: OffsetAndMetadata(5, "", -1)}, consumer.group_metadata()
        )
        producer.commit_transaction()
        producer.close()

        assert consumer.committed(tp) == 5
    finally:
        consumer.close()
    with KafkaAdminClient(bootstrap_servers=kafka_bootstrap) as admin:
        # kafka-python 3 names it list_group_offsets ({group: {tp: OffsetAndMetadata}}).
        assert admin.list_group_offsets(group)[group][tp].offset == 5
    assert _read_partition(kafka_bootstrap, sink, "read_committed", b"M4") == [
        f"M{i}".encode() for i in range(5)
    ]


FAUST_APP = textwrap.dedent(
    """
    import os

    import faust
    import redis.asyncio as aioredis

    env = os.environ
    app = faust.App(
        env["T_APP_ID"],
        broker=";".join("kafka://" + b for b in env["T_KAFKA"].split(",")),
        store="memory://",
        web_enabled=False,
        datadir=env["T_DATADIR"],
        topic_partitions=int(env["T_PARTITIONS"]),
    )
    source = app.topic(env["T_TOPIC"], key_serializer="raw", value_serializer="raw")
    store = aioredis.from_url(env["T_REDIS"])

    @app.agent(source, concurrency=1)
    async def to_redis(stream):
        async for event in stream.events():
            await store.set(env["T_PREFIX"] + ":" + event.key.decode(), event.value)

    if __name__ == "__main__":
        app.main()
    """
)


def test_faust_agent_on_real_broker_writes_redis(
    kafka_bootstrap, redis_test_url, redis_client, create_topic, unique_name, tmp_path: Path
):
    partitions, n = 4, 50
    topic = create_topic("faust", partitions=partitions)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for i in range(n):
        producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode())
    producer.close()

    app_file = tmp_path / "smoke_app.py"
    app_file.write_text(FAUST_APP)
    env = {**os.environ, "T_APP_ID": unique_name, "T_KAFKA": kafka_bootstrap,
           "T_DATADIR": str(tmp_path / "faust-data"), "T_PARTITIONS": str(partitions),
           "T_TOPIC": topic, "T_REDIS": redis_test_url, "T_PREFIX": unique_name}
    log = tmp_path / "faust.log"
    leader = f"{unique_name}-__assignor-__leader"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, str(app_file), "worker", "--without-web", "-l", "warn"],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        keys: list[bytes] = []
        while time.monotonic() < deadline and worker.poll() is None:
            keys = list(redis_client.scan_iter(match=f"{unique_name}:*", count=1000))
            if len(keys) >= n:
                break
            time.sleep(0.5)
        assert worker.poll() is None, f"faust worker died:\n{log.read_text()[-3000:]}"
        assert len(keys) == n, f"{len(keys)} of {n} keys after 90 s:\n{log.read_text()[-3000:]}"
        assert redis_client.get(f"{unique_name}:k7") == b"v7"
        # Faust created its internal topic through the admin API although auto-create is off.
        with KafkaAdminClient(bootstrap_servers=kafka_bootstrap) as admin:
            assert leader in admin.list_topics()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        with KafkaAdminClient(bootstrap_servers=kafka_bootstrap) as admin:
            admin.delete_topics([leader], raise_errors=False)


def test_redis_round_trip_transaction_and_lua(redis_client: redis.Redis, unique_name: str):
    key = f"{unique_name}:view"
    assert redis_client.set(key, b"hello") and redis_client.get(key) == b"hello"

    with redis_client.pipeline(transaction=True) as multi:  # MULTI/EXEC
        multi.hset(f"{key}:h", mapping={"balance": 3, "offset": 10})
        multi.incrby(f"{key}:n", 2)
        multi.execute()
    assert redis_client.hgetall(f"{key}:h") == {b"balance": b"3", b"offset": b"10"}

    # The idempotent-view pattern: apply only above the stored offset (Lua runs atomically).
    apply_if_newer = redis_client.register_script(
        "local cur = tonumber(redis.call('HGET', KEYS[1], 'offset') or '-1')\n"
        "if tonumber(ARGV[1]) <= cur then return 0 end\n"
        "redis.call('HSET', KEYS[1], 'offset', ARGV[1], 'balance', ARGV[2])\n"
        "return 1"
    )
    assert apply_if_newer(keys=[f"{key}:h"], args=[10, 99]) == 0
    assert apply_if_newer(keys=[f"{key}:h"], args=[11, 5]) == 1
    assert redis_client.hget(f"{key}:h", "balance") == b"5"


def test_piecework_topics_exist_with_infinite_event_retention(kafka_bootstrap):
    from kafka.admin import ConfigResource, ConfigResourceType

    with KafkaAdminClient(bootstrap_servers=kafka_bootstrap) as admin:
        assert set(Topics().creation_configs()) <= set(admin.list_topics())
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, "piecework.events", ["retention.ms"])]
        )
    # kafka-python 3 shape: {"topic": {name: {key: {"value": ..., ...}}}}
    assert configs["topic"]["piecework.events"]["retention.ms"]["value"] == "-1"
