"""The API's memoised partitioner sends every key where the Java client's default one does:
murmur2 of the key, made positive, modulo the partition count (kafka-python's too)."""

from __future__ import annotations

import random

from kafka.partitioner.default import murmur2

from broker.api.gateway import MemoPartitioner


def java_partition(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def test_same_partition_as_the_java_default_partitioner_every_time() -> None:
    memo, rnd = MemoPartitioner(), random.Random(3)
    for partitions in (1, 4, 12):
        ids = list(range(partitions))
        for _ in range(500):
            key = f"acme{rnd.random()}:b{rnd.randrange(9)}".encode()
            want = java_partition(key, partitions)
            assert memo(key, ids, ids) == want
            rnd.shuffle(ids)  # aiokafka passes list(set): no order promised
            assert memo(key, ids, ids) == want  # memoised


def test_known_keys_land_where_kafka_puts_them() -> None:
    memo, ids = MemoPartitioner(), [0, 1, 2, 3]
    for key in (b"", b"a", b"acme", b"w17", "r\u00e9quester".encode(), b"x" * 100):
        assert memo(key, ids, ids) == java_partition(key, 4)


def test_forgets_everything_past_its_bound() -> None:
    memo = MemoPartitioner()
    memo.MAX_KEYS = 3
    for i in range(10):
        memo(f"k{i}".encode(), [0, 1, 2, 3], [0, 1, 2, 3])
    assert len(memo._hashes) <= 3
