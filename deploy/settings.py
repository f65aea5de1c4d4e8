"""Where the local stack lives and listens, derived from runtime.settings.Settings.

Reads no PIECEWORK_* variable itself: `for_settings` turns the process's Settings into
the launchers' view of them (nodes, ports, files). Pure: no I/O.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from runtime.settings import Settings

KAFKA_VERSION = "3.9.1"
# Addresses `up` may start a process for; anything else must already answer.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})


@dataclass(frozen=True)
class KafkaNode:
    """One combined broker+controller JVM of the local cluster, with its own files."""

    node_id: int
    host: str
    port: int
    controller_port: int
    data_dir: Path

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def service(self) -> str:
        # Node 1 keeps the single-broker names, so a one-node stack looks as it always did.
        return "kafka" if self.node_id == 1 else f"kafka-{self.node_id}"

    @property
    def conf_dir(self) -> Path:
        base = self.data_dir / "kafka"
        return base if self.node_id == 1 else base / f"node-{self.node_id}"

    @property
    def log_dirs(self) -> Path:
        return self.conf_dir / "data"

    @property
    def log_files(self) -> tuple[Path, Path]:
        """(broker log written by log4j, JVM stdout/stderr)."""
        logs = self.data_dir / "logs"
        return logs / f"{self.service}.log", logs / f"{self.service}.out"


@dataclass(frozen=True)
class StackSettings:
    kafka_bootstrap: str
    redis_url: str
    data_dir: Path
    jar_dir: Path
    partitions: int
    # None: as many as the data dir was formatted for, else 1 (see deploy.stack.resolve).
    brokers: int | None = None

    @property
    def kafka_host(self) -> str:
        return parse_host_port(self.kafka_bootstrap.split(",")[0], 9092)[0]

    @property
    def kafka_port(self) -> int:
        return parse_host_port(self.kafka_bootstrap.split(",")[0], 9092)[1]

    @property
    def controller_port(self) -> int:
        # The KRaft controller needs a second port; the next one keeps the pair easy to find.
        return self.kafka_port + 1

    @property
    def broker_count(self) -> int:
        return self.brokers or 1

    @property
    def kafka_nodes(self) -> tuple[KafkaNode, ...]:
        """Addresses listed in PIECEWORK_KAFKA, else the first one's port + 2 per node
        (9092/9093, 9094/9095, 9096/9097): clients on even ports, controllers on odd."""
        listed = [parse_host_port(a, 9092) for a in self.kafka_bootstrap.split(",") if a.strip()]
        host, port = listed[0]
        nodes = []
        for i in range(self.broker_count):
            h, p = listed[i] if len(listed) >= self.broker_count else (host, port + 2 * i)
            nodes.append(KafkaNode(i + 1, h, p, p + 1, self.data_dir))
        return tuple(nodes)

    @property
    def cluster_bootstrap(self) -> str:
        """Every node: a client that knows them all survives the loss of any one."""
        return ",".join(node.address for node in self.kafka_nodes)

    @property
    def redis_host(self) -> str:
        return urlsplit(self.redis_url).hostname or "127.0.0.1"

    @property
    def redis_port(self) -> int:
        return urlsplit(self.redis_url).port or 6379

    @property
    def kafka_is_local(self) -> bool:
        return self.kafka_host in LOCAL_HOSTS

    @property
    def redis_is_local(self) -> bool:
        return self.redis_host in LOCAL_HOSTS

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def kafka_log_dirs(self) -> Path:
        return self.data_dir / "kafka" / "data"

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"

    def pid_file(self, service: str) -> Path:
        return self.data_dir / "run" / f"{service}.pid"


def parse_host_port(address: str, default_port: int) -> tuple[str, int]:
    """Split 'host:port' (or '[v6]:port'); a bare host gets the default port."""
    address = address.strip()
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest.lstrip(":") or default_port)
    host, sep, port = address.rpartition(":")
    if not sep:
        return address, default_port
    return host, int(port)


def default_jar_dir(env: Mapping[str, str]) -> Path:
    # Outside the repo so a fresh clone or `git clean` does not download 100 jars again.
    cache = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".cache")
    return Path(cache) / "piecework" / f"kafka-{KAFKA_VERSION}" / "libs"


def for_settings(settings: Settings, env: Mapping[str, str] | None = None) -> StackSettings:
    """The local stack of these settings; `env` only supplies HOME / XDG_CACHE_HOME."""
    return StackSettings(
        kafka_bootstrap=settings.kafka,
        redis_url=settings.redis,
        data_dir=settings.data_dir,
        jar_dir=default_jar_dir(os.environ if env is None else env),
        partitions=settings.partitions,
        brokers=settings.brokers,
    )
