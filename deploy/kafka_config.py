"""Text of the files and command lines of local KRaft nodes (one, or a quorum). Pure: no I/O."""

from __future__ import annotations

import base64
import re
import uuid
from pathlib import Path

from deploy.settings import KafkaNode, StackSettings

HEAP = "512m"
# Per node of a cluster: 1.1 GiB for three; no start-up difference from 512m (deploy/README).
CLUSTER_HEAP = "384m"
CLUSTER_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
# The JVM flags kafka-server-start.sh uses by default: short GC pauses on a small heap.
JVM_FLAGS = (
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)


def heap_for(brokers: int) -> str:
    return HEAP if brokers == 1 else CLUSTER_HEAP


def replication(brokers: int) -> tuple[int, int]:
    """(replicas, min in-sync replicas): 3/2 on three or more nodes, so one node may die
    with no acknowledged write lost and writes still accepted; 1/1 on a single node."""
    replicas = min(brokers, 3)
    return replicas, max(1, replicas - 1)


def server_properties(settings: StackSettings, node: KafkaNode | None = None) -> dict[str, str]:
    nodes = settings.kafka_nodes
    node = node or nodes[0]
    host, port, cport = node.host, node.port, node.controller_port
    replicas, min_isr = replication(len(nodes))
    return {
        # Each JVM is broker and controller: no ZooKeeper; the controllers form the quorum.
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": ",".join(
            f"{n.node_id}@{n.host}:{n.controller_port}" for n in nodes
        ),
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(node.log_dirs),
        "num.partitions": str(settings.partitions),
        "default.replication.factor": str(replicas),
        # With acks=all a write needs min_isr copies: losing one node of three loses nothing.
        "min.insync.replicas": str(min_isr),
        # Internal topics default to 3 replicas: on one broker transactions and groups never start.
        "offsets.topic.replication.factor": str(replicas),
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": str(min_isr),
        # Tests join groups constantly; the default 3 s delay would be paid each time.
        "group.initial.rebalance.delay.ms": "0",
        # A typo in a topic name must fail loudly, not create an empty topic.
        "auto.create.topics.enable": "false",
        # Default is 128 MiB of heap for compaction; too much for a 512 MiB heap.
        "log.cleaner.dedupe.buffer.size": str(32 * 1024 * 1024),
    }


def render_properties(props: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in props.items())


def log4j_properties(log_file: Path) -> str:
    """reload4j config: everything INFO and up into one rolling file, nothing on the console."""
    return render_properties(
        {
            "log4j.rootLogger": "INFO, file",
            "log4j.appender.file": "org.apache.log4j.RollingFileAppender",
            "log4j.appender.file.File": str(log_file),
            "log4j.appender.file.MaxFileSize": "20MB",
            "log4j.appender.file.MaxBackupIndex": "3",
            "log4j.appender.file.layout": "org.apache.log4j.PatternLayout",
            "log4j.appender.file.layout.ConversionPattern": "[%d] %p %m (%c)%n",
            # Per-request and state-change chatter drowns the useful lines.
            "log4j.logger.kafka.request.logger": "WARN",
            "log4j.logger.state.change.logger": "WARN",
            "log4j.logger.org.apache.kafka.clients": "WARN",
        }
    )


def java_command(
    jar_dir: Path, main_class: str, *args: str, log4j: Path | None = None, heap: str = HEAP
) -> list[str]:
    """`java` for one Kafka main class; the JVM expands the `dir/*` classpath itself."""
    cmd = ["java", f"-Xms{heap}", f"-Xmx{heap}", *JVM_FLAGS, "-cp", f"{jar_dir}/*"]
    if log4j is not None:
        cmd.append(f"-Dlog4j.configuration=file:{log4j}")
    return [*cmd, main_class, *args]


def parse_cluster_id(output: str) -> str:
    """StorageTool random-uuid prints the id; keep only a line that looks like one."""
    for line in reversed(output.strip().splitlines()):
        if CLUSTER_ID.match(line.strip()):
            return line.strip()
    raise ValueError(f"no cluster id in StorageTool output: {output!r}")


def random_cluster_id() -> str:
    """What `StorageTool random-uuid` prints (16 random bytes, base64url, unpadded), without
    paying a JVM start for it. Kafka refuses ids starting with '-' (they read as options)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text
