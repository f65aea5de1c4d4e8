"""The API's memoised partitioner sends every key where kafka-python's default one does."""

from __future__ import annotations

import random

from kafka.partitioner.default import DefaultPartitioner

from broker.api.gateway import MemoPartitioner


class _Cluster:
    def __init__(self, partitions: int) -> None:
        self.partitions = set(range(partitions))

    def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions


def test_same_partition_as_the_default_partitioner_every_time() -> None:
    memo, default, rnd = MemoPartitioner(), DefaultPartitioner(), random.Random(3)
    for partitions in (1, 4, 12):
        cluster = _Cluster(partitions)
        for _ in range(500):
            key = f"acme{rnd.random()}:b{rnd.randrange(9)}".encode()
            want = default.partition("t", None, key, None, None, cluster)
            assert memo.partition("t", None, key, None, None, cluster) == want
            assert memo.partition("t", None, key, None, None, cluster) == want  # memoised


def test_forgets_everything_past_its_bound() -> None:
    memo = MemoPartitioner()
    memo.MAX_KEYS = 3
    cluster = _Cluster(4)
    for i in range(10):
        memo.partition("t", None, f"k{i}".encode(), None, None, cluster)
    assert len(memo._hashes) <= 3
