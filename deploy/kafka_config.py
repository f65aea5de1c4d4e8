"""Text of the files and command line a single-node KRaft broker needs. Pure: no I/O."""

from __future__ import annotations

import re
from pathlib import Path

from deploy.settings import StackSettings

HEAP = "512m"
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


def server_properties(settings: StackSettings) -> dict[str, str]:
    host, port, cport = settings.kafka_host, settings.kafka_port, settings.controller_port
    return {
        # One JVM is broker and controller: no ZooKeeper, one port pair.
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{cport}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(settings.kafka_log_dirs),
        "num.partitions": str(settings.partitions),
        "default.replication.factor": "1",
        # Internal topics default to 3 replicas: on one broker transactions and groups never start.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
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
    jar_dir: Path, main_class: str, *args: str, log4j: Path | None = None
) -> list[str]:
    """`java` for one Kafka main class; the JVM expands the `dir/*` classpath itself."""
    cmd = ["java", f"-Xms{HEAP}", f"-Xmx{HEAP}", *JVM_FLAGS, "-cp", f"{jar_dir}/*"]
    if log4j is not None:
        cmd.append(f"-Dlog4j.configuration=file:{log4j}")
    return [*cmd, main_class, *args]


def parse_cluster_id(output: str) -> str:
    """StorageTool random-uuid prints the id; keep only a line that looks like one."""
    for line in reversed(output.strip().splitlines()):
        if CLUSTER_ID.match(line.strip()):
            return line.strip()
    raise ValueError(f"no cluster id in StorageTool output: {output!r}")
