"""A real single-node Kafka 3.9 (KRaft) from Maven Central jars, started with plain `java`."""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from deploy import kafka_config, processes
from deploy.settings import KAFKA_VERSION, StackSettings, parse_host_port

POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
READY_TIMEOUT = 120.0


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


def config_paths(settings: StackSettings) -> tuple[Path, Path]:
    conf = settings.data_dir / "kafka"
    return conf / "server.properties", conf / "log4j.properties"


def log_files(settings: StackSettings) -> tuple[Path, Path]:
    """(broker log written by log4j, JVM stdout/stderr)."""
    return settings.log_dir / "kafka.log", settings.log_dir / "kafka.out"


def write_config(settings: StackSettings) -> Path:
    """Rewritten on every start, so a changed setting applies without a manual step."""
    props, log4j = config_paths(settings)
    props.parent.mkdir(parents=True, exist_ok=True)
    settings.kafka_log_dirs.mkdir(parents=True, exist_ok=True)
    props.write_text(kafka_config.render_properties(kafka_config.server_properties(settings)))
    log4j.write_text(kafka_config.log4j_properties(log_files(settings)[0]))
    return props


def format_storage(settings: StackSettings, props: Path) -> bool:
    """Format KRaft storage the first time; True if it did. meta.properties marks done."""
    if (settings.kafka_log_dirs / "meta.properties").is_file():
        return False
    tool = "kafka.tools.StorageTool"
    # No log4j config here: with a console appender a log line would end up in the captured id.
    uuid = _java(settings, tool, "random-uuid")
    cluster_id = kafka_config.parse_cluster_id(uuid)
    _java(settings, tool, "format", "-t", cluster_id, "-c", str(props), "-g")
    return True


def _java(settings: StackSettings, *args: str) -> str:
    cmd = kafka_config.java_command(settings.jar_dir, *args)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def start(settings: StackSettings) -> processes.PidRecord:
    """Jars, config, storage, then the broker detached; returns once it answers metadata."""
    if shutil.which("java") is None:
        raise RuntimeError("java not found: apt-get install -y openjdk-17-jre-headless")
    ensure_jars(settings.jar_dir)
    props = write_config(settings)
    format_storage(settings, props)
    _, log4j = config_paths(settings)
    cmd = kafka_config.java_command(settings.jar_dir, "kafka.Kafka", str(props), log4j=log4j)
    record = processes.spawn_detached(cmd, log_files(settings)[1], cwd=settings.data_dir,
                                      address=settings.kafka_bootstrap)
    processes.write_pid(settings.pid_file("kafka"), record)
    wait_ready(settings, record)
    return record


def wait_ready(settings: StackSettings, record: processes.PidRecord) -> None:
    def died() -> str | None:
        if processes.is_running(record):
            return None
        server_log, out = log_files(settings)
        return f"kafka exited during start-up:\n{processes.tail(out)}\n{processes.tail(server_log)}"

    if not processes.wait_until(lambda: is_ready(settings.kafka_bootstrap), READY_TIMEOUT,
                                interval=0.5, abort=died):
        raise RuntimeError(f"kafka not ready after {READY_TIMEOUT:.0f}s, see {log_files(settings)}")


def is_ready(bootstrap: str, timeout_ms: int = 3000) -> bool:
    """Port answers and a metadata request succeeds (a bound port alone is not a broker)."""
    host, port = parse_host_port(bootstrap.split(",")[0], 9092)
    if not processes.port_open(host, port):
        return False
    from kafka.admin import KafkaAdminClient

    with _quiet("kafka"):
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="piecework-probe",
                                     bootstrap_timeout_ms=timeout_ms,
                                     request_timeout_ms=timeout_ms)
        except Exception:
            return False
        try:
            admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            admin.close()


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Probes are expected to fail while the broker starts: keep their errors off the screen."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
