"""Private Kafka brokers and Redis servers for tests that stop, kill or flush them.

Started with the project's own launcher (deploy/) on free loopback ports and a data dir
under the test's tmp_path, never the shared 127.0.0.1:9092 / :6379 other tests use.
"""

from __future__ import annotations

import dataclasses
import os
import random
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from deploy import kafka_launcher, processes, stack
from deploy.settings import KafkaNode, StackSettings, default_jar_dir
from testkit.stack_processes import PATIENCE_S


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_run(count: int) -> int:
    """A first port of `count` consecutive free ones, below the ephemeral range."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, 32_000 - count)
        if all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


def private_settings(data_dir: Path, brokers: int = 1, partitions: int = 4) -> StackSettings:
    kafka_port, redis_port = free_port_run(2 * brokers), free_port_run(1)
    return StackSettings(
        kafka_bootstrap=f"127.0.0.1:{kafka_port}",
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        data_dir=data_dir,
        jar_dir=default_jar_dir(os.environ),
        partitions=partitions,
        brokers=brokers,
    )


@dataclasses.dataclass
class PrivateKafka:
    settings: StackSettings

    @property
    def bootstrap(self) -> str:
        return self.settings.cluster_bootstrap

    @property
    def nodes(self) -> tuple[KafkaNode, ...]:
        return self.settings.kafka_nodes

    def node(self, node_id: int) -> KafkaNode:
        return self.nodes[node_id - 1]

    def record(self, node_id: int) -> processes.PidRecord:
        found = processes.live_record(self.settings.pid_file(self.node(node_id).service))
        assert found is not None, f"kafka node {node_id} is not running"
        return found

    def stop(self, node_id: int = 1) -> str:
        """SIGTERM through the launcher's pid file (a clean, controlled shutdown)."""
        outcome = processes.stop(self.record(node_id))
        self.settings.pid_file(self.node(node_id).service).unlink(missing_ok=True)
        return outcome

    def kill9(self, node_id: int) -> None:
        record = self.record(node_id)
        os.kill(record.pid, 9)
        assert processes.wait_until(lambda: not processes.is_running(record), PATIENCE_S), (
            f"kafka node {node_id} still running {PATIENCE_S:.0f} s after SIGKILL")

    def start(self) -> list[stack.ServiceState]:
        """Start whatever node is not running, on the same data dirs; wait until ready."""
        return stack.up(self.settings, ["kafka"])

    def transaction_coordinator(self, transactional_id: str) -> int:
        with KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="fault-txn") as admin:
            found = admin.describe_transactions([transactional_id])
        return next(iter(found.values())).coordinator_id

    def _describe(self, topic: str) -> list[dict]:
        # For seconds after a kill the metadata still names the dead node, and a client
        # may send its request there: ask the live ones, and ask again.
        deadline = time.monotonic() + PATIENCE_S
        while True:
            alive = ",".join(n.address for n in self.nodes if ready(n))
            try:
                with KafkaAdminClient(bootstrap_servers=alive, client_id="fault-describe") as a:
                    return a.describe_topics([topic])[0]["partitions"]
            except KafkaError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def leaders(self, topic: str) -> dict[int, int]:
        """partition -> node id of its leader."""
        return {p["partition_index"]: p["leader_id"] for p in self._describe(topic)}

    def isr(self, topic: str) -> dict[int, list[int]]:
        return {p["partition_index"]: sorted(p["isr_nodes"]) for p in self._describe(topic)}


@contextmanager
def private_kafka(data_dir: Path, brokers: int = 1, partitions: int = 4
                  ) -> Iterator[PrivateKafka]:
    settings = private_settings(data_dir, brokers, partitions)
    try:
        stack.up(settings, ["kafka"])
        yield PrivateKafka(settings)
    except BaseException:
        for node in settings.kafka_nodes:
            print(f"----- {node.service} -----\n{processes.tail(node.log_files[0], 30)}")
        raise
    finally:
        stack.down(settings, ["kafka"])


@contextmanager
def private_redis(data_dir: Path) -> Iterator[str]:
    """A redis-server of our own: FLUSHALL there touches no other test's data."""
    settings = private_settings(data_dir)
    try:
        stack.up(settings, ["redis"])
        yield settings.redis_url
    finally:
        with suppress(Exception):
            stack.down(settings, ["redis"])


def ready(node: KafkaNode) -> bool:
    return kafka_launcher.node_ready(node)
