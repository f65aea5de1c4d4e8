"""Real Kafka 3.9 (KRaft) nodes from Maven Central jars, started with plain `java`.

One node by default; `piecework up --brokers 3` starts a quorum of three combined
broker+controller nodes with one cluster id, each with its own config, data and logs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from deploy import kafka_config, kafka_probe, processes
from deploy.settings import KAFKA_VERSION, KafkaNode, StackSettings, parse_host_port

POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
READY_TIMEOUT = 120.0
LAYOUT_FILE = "cluster.json"


def jars_present(jar_dir: Path) -> bool:
    return (jar_dir / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file()


def ensure_jars(jar_dir: Path) -> bool:
    """Fetch the broker's jars once; True if Maven ran. Atomic: a killed download leaves no half."""
    if jars_present(jar_dir):
        return False
    if shutil.which("mvn") is None:
        raise RuntimeError("mvn not found: apt-get install -y maven (needed once to fetch jars)")
    tmp = jar_dir.with_name(jar_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["mvn", "-B", "-q", "-f", str(POM), "dependency:copy-dependencies",
           "-DincludeScope=runtime", f"-DoutputDirectory={tmp}"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0 or not jars_present(tmp):
        raise RuntimeError(f"mvn failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    shutil.rmtree(jar_dir, ignore_errors=True)
    tmp.rename(jar_dir)
    return True


@dataclass(frozen=True)
class Layout:
    """What a data dir was formatted for: one cluster id shared by every node, and their count."""

    cluster_id: str
    brokers: int


def config_paths(settings: StackSettings, node: KafkaNode | None = None) -> tuple[Path, Path]:
    node = node or settings.kafka_nodes[0]
    return node.conf_dir / "server.properties", node.conf_dir / "log4j.properties"


def log_files(settings: StackSettings, node: KafkaNode | None = None) -> tuple[Path, Path]:
    """(broker log written by log4j, JVM stdout/stderr)."""
    return (node or settings.kafka_nodes[0]).log_files


def write_config(settings: StackSettings, node: KafkaNode | None = None) -> Path:
    """Rewritten on every start, so a changed setting applies without a manual step."""
    node = node or settings.kafka_nodes[0]
    props, log4j = config_paths(settings, node)
    props.parent.mkdir(parents=True, exist_ok=True)
    node.log_dirs.mkdir(parents=True, exist_ok=True)
    props.write_text(kafka_config.render_properties(kafka_config.server_properties(settings, node)))
    log4j.write_text(kafka_config.log4j_properties(node.log_files[0]))
    return props


def layout_file(settings: StackSettings) -> Path:
    return settings.data_dir / "kafka" / LAYOUT_FILE


def recorded_layout(settings: StackSettings) -> Layout | None:
    """The layout file, or for a data dir formatted before it existed, node 1's meta.properties."""
    try:
        found = json.loads(layout_file(settings).read_text())
        return Layout(str(found["cluster_id"]), int(found["brokers"]))
    except FileNotFoundError:
        pass
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"{layout_file(settings)} is damaged: {exc}") from exc
    meta = settings.kafka_nodes[0].log_dirs / "meta.properties"
    if not meta.is_file():
        return None
    for line in meta.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "cluster.id":
            return Layout(value.strip(), 1)
    return None


def ensure_layout(settings: StackSettings) -> Layout:
    """Record a new cluster id the first time; refuse a data dir formatted for another size
    (KRaft's static voter set cannot grow or shrink in place)."""
    found = recorded_layout(settings)
    if found is None:
        found = Layout(kafka_config.random_cluster_id(), settings.broker_count)
        path = layout_file(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(found)) + "\n")
        tmp.replace(path)
    elif found.brokers != settings.broker_count:
        raise RuntimeError(
            f"data dir {settings.data_dir} holds a {found.brokers}-broker cluster, not "
            f"{settings.broker_count}: use --brokers {found.brokers}, or another "
            "PIECEWORK_DATA_DIR"
        )
    return found


def format_storage(settings: StackSettings, nodes: Sequence[KafkaNode], cluster_id: str
                   ) -> list[KafkaNode]:
    """Format the nodes not formatted yet (meta.properties marks done), in parallel: each
    is a JVM start. Returns the ones it formatted."""
    todo = [n for n in nodes if not (n.log_dirs / "meta.properties").is_file()]
    running = []
    for node in todo:
        props, _ = config_paths(settings, node)
        cmd = kafka_config.java_command(settings.jar_dir, "kafka.tools.StorageTool", "format",
                                        "-t", cluster_id, "-c", str(props), "-g")
        running.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True))
    failures = []
    for node, proc in zip(todo, running, strict=True):
        output, _ = proc.communicate()
        if proc.returncode != 0:
            failures.append(f"node {node.node_id}: {output}")
    if failures:
        raise RuntimeError("StorageTool format failed:\n" + "\n".join(failures))
    return todo


def start(settings: StackSettings) -> processes.PidRecord:
    """Every node of the cluster; returns node 1's record."""
    return start_nodes(settings, settings.kafka_nodes)[0]


def start_nodes(settings: StackSettings, nodes: Sequence[KafkaNode]) -> list[processes.PidRecord]:
    """Jars, configs, storage, then the nodes detached; returns once each answers metadata.

    All are spawned before any is waited for: no node of a quorum is ready before a
    majority of its controllers runs.
    """
    if shutil.which("java") is None:
        raise RuntimeError("java not found: apt-get install -y openjdk-17-jre-headless")
    ensure_jars(settings.jar_dir)
    layout = ensure_layout(settings)
    for node in nodes:
        write_config(settings, node)
    format_storage(settings, nodes, layout.cluster_id)
    records = [spawn_node(settings, node) for node in nodes]
    for node, record in zip(nodes, records, strict=True):
        wait_node_ready(settings, node, record)
    return records


def spawn_node(settings: StackSettings, node: KafkaNode) -> processes.PidRecord:
    props, log4j = config_paths(settings, node)
    heap = kafka_config.heap_for(settings.broker_count)
    cmd = kafka_config.java_command(settings.jar_dir, "kafka.Kafka", str(props), log4j=log4j,
                                    heap=heap)
    record = processes.spawn_detached(cmd, node.log_files[1], cwd=settings.data_dir,
                                      address=node.address)
    processes.write_pid(settings.pid_file(node.service), record)
    return record


def wait_ready(settings: StackSettings, record: processes.PidRecord) -> None:
    wait_node_ready(settings, settings.kafka_nodes[0], record)


def wait_node_ready(settings: StackSettings, node: KafkaNode, record: processes.PidRecord) -> None:
    def died() -> str | None:
        if processes.is_running(record):
            return None
        server_log, out = node.log_files
        return (f"{node.service} exited during start-up:\n{processes.tail(out)}\n"
                f"{processes.tail(server_log)}")

    if not processes.wait_until(lambda: node_ready(node), READY_TIMEOUT,
                                interval=0.5, abort=died):
        raise RuntimeError(
            f"{node.service} not ready after {READY_TIMEOUT:.0f}s, see {node.log_files}"
        )


def is_ready(bootstrap: str, timeout_ms: int = 3000) -> bool:
    """Some listed address answers a metadata request naming a live broker (a bound port
    alone is not a broker: one still starting accepts connections and answers nothing)."""
    for address in bootstrap.split(","):
        if address.strip():
            host, port = parse_host_port(address, 9092)
            if kafka_probe.live_brokers(host, port, timeout_ms / 1000):
                return True
    return False


def node_ready(node: KafkaNode) -> bool:
    """This node answers and counts itself among the live brokers (registered, unfenced)."""
    found = kafka_probe.live_brokers(node.host, node.port)
    return found is not None and node.node_id in found
