"""up / down / status of the local Kafka + Redis, shared by the CLI and the test fixtures.

Kafka is one node or a quorum of several (`--brokers`); each node is a row of its own,
named kafka, kafka-2, kafka-3, with its own pid file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from deploy import kafka_launcher, processes, redis_launcher
from deploy.settings import KafkaNode, StackSettings


@dataclass(frozen=True)
class Service:
    name: str
    address: Callable[[StackSettings], str]
    is_local: Callable[[StackSettings], bool]
    is_ready: Callable[[str], bool]
    start: Callable[[StackSettings], processes.PidRecord]
    wait_ready: Callable[[StackSettings, processes.PidRecord], None]
    logs: Callable[[StackSettings], tuple[Path, ...]]


@dataclass(frozen=True)
class ServiceState:
    name: str
    address: str
    up: bool
    ours: bool
    pid: int | None
    action: str
    logs: tuple[Path, ...]


KAFKA = Service(
    name="kafka",
    address=lambda s: s.kafka_bootstrap,
    is_local=lambda s: s.kafka_is_local,
    is_ready=kafka_launcher.is_ready,
    start=kafka_launcher.start,
    wait_ready=kafka_launcher.wait_ready,
    logs=kafka_launcher.log_files,
)
REDIS = Service(
    name="redis",
    address=lambda s: s.redis_url,
    is_local=lambda s: s.redis_is_local,
    is_ready=redis_launcher.is_ready,
    start=redis_launcher.start,
    wait_ready=redis_launcher.wait_ready,
    logs=lambda s: (redis_launcher.log_file(s),),
)
SERVICES = {"kafka": KAFKA, "redis": REDIS}


@contextlib.contextmanager
def _locked(settings: StackSettings) -> Iterator[None]:
    """Two `piecework up` at once (two terminals, two test runs) must not start two brokers."""
    lock = settings.pid_file("stack").with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _state(settings: StackSettings, svc: Service, up: bool, record: processes.PidRecord | None,
           action: str) -> ServiceState:
    address = record.address if record else svc.address(settings)
    return ServiceState(svc.name, address, up, record is not None,
                        record.pid if record else None, action, svc.logs(settings))


def _up_one(settings: StackSettings, svc: Service) -> ServiceState:
    address = svc.address(settings)
    record = processes.live_record(settings.pid_file(svc.name))
    if record is not None and record.address == address:
        if not svc.is_ready(address):
            svc.wait_ready(settings, record)  # ours, still starting (or a stuck start: raises)
        return _state(settings, svc, True, record, "already running")
    if svc.is_ready(address):
        return _state(settings, svc, True, None, "external (not started by us): used")
    if record is not None:
        # Starting a second one would overwrite the pid file and orphan the first.
        raise RuntimeError(
            f"{svc.name} of data dir {settings.data_dir} runs at {record.address} "
            f"(pid {record.pid}): `piecework down` first, or set PIECEWORK_DATA_DIR"
        )
    if not svc.is_local(settings):
        raise RuntimeError(f"{svc.name} at {address} does not answer and is not local")
    return _state(settings, svc, True, svc.start(settings), "started")


def resolve(settings: StackSettings) -> StackSettings:
    """Settings with a broker count: the one asked for, else the data dir's, else 1."""
    if settings.brokers is not None:
        return settings
    layout = kafka_launcher.recorded_layout(settings)
    return dataclasses.replace(settings, brokers=layout.brokers if layout else 1)


def _node_state(node: KafkaNode, up: bool, record: processes.PidRecord | None, action: str
                ) -> ServiceState:
    address = record.address if record else node.address
    return ServiceState(node.service, address, up, record is not None,
                        record.pid if record else None, action, node.log_files)


def _up_kafka(settings: StackSettings) -> list[ServiceState]:
    nodes = settings.kafka_nodes
    records = {n.node_id: processes.live_record(settings.pid_file(n.service)) for n in nodes}
    for node in nodes:
        record = records[node.node_id]
        if record is not None and record.address != node.address:
            # Starting a second one would overwrite the pid file and orphan the first.
            raise RuntimeError(
                f"{node.service} of data dir {settings.data_dir} runs at {record.address} "
                f"(pid {record.pid}): `piecework down` first, or set PIECEWORK_DATA_DIR"
            )
    if not any(records.values()) and KAFKA.is_ready(settings.kafka_bootstrap):
        return [_state(settings, KAFKA, True, None, "external (not started by us): used")]
    if not settings.kafka_is_local:
        raise RuntimeError(f"kafka at {settings.kafka_bootstrap} does not answer and is not local")
    kafka_launcher.ensure_layout(settings)  # a 3-node data dir is not started as 1 node
    missing = [n for n in nodes if records[n.node_id] is None]
    started = dict(zip((n.node_id for n in missing),
                       kafka_launcher.start_nodes(settings, missing) if missing else [],
                       strict=True))
    states = []
    for node in nodes:
        record = started.get(node.node_id) or records[node.node_id]
        assert record is not None
        if node.node_id not in started and not kafka_launcher.node_ready(node):
            kafka_launcher.wait_node_ready(settings, node, record)  # ours, still starting
        action = "started" if node.node_id in started else "already running"
        states.append(_node_state(node, True, record, action))
    return states


def _down_kafka(settings: StackSettings) -> list[ServiceState]:
    nodes = settings.kafka_nodes
    records = {n.node_id: processes.live_record(settings.pid_file(n.service)) for n in nodes}
    ours = [(n, r) for n in nodes if (r := records[n.node_id]) is not None]
    if not ours:
        up_now = KAFKA.is_ready(settings.kafka_bootstrap)
        action = "not ours: left running" if up_now else "not running"
        return [_state(settings, KAFKA, up_now, None, action)]
    actions = processes.stop_all([r for _, r in ours])
    for node, _ in ours:
        settings.pid_file(node.service).unlink(missing_ok=True)
    return [_node_state(n, False, r, a) for (n, r), a in zip(ours, actions, strict=True)]


def up(settings: StackSettings, names: Sequence[str] = ("redis", "kafka")) -> list[ServiceState]:
    """Start what is not running; idempotent. Does not create topics (see deploy.topics)."""
    settings = resolve(settings)
    states: list[ServiceState] = []
    with _locked(settings):
        for name in names:
            if name == "kafka":
                states += _up_kafka(settings)
            else:
                states.append(_up_one(settings, SERVICES[name]))
    return states


def down(settings: StackSettings, names: Sequence[str] = ("kafka", "redis")) -> list[ServiceState]:
    """Stop only what our pid files name; anything else answering is left alone.

    Any of kafka, kafka-2, ... in `names` stops every node, all at once (see stop_all).
    """
    settings = resolve(settings)
    states = []
    kafka_done = False
    with _locked(settings):
        for name in names:
            if name.startswith("kafka"):
                if not kafka_done:
                    states += _down_kafka(settings)
                    kafka_done = True
                continue
            svc, pid_file = SERVICES[name], settings.pid_file(name)
            record = processes.live_record(pid_file)
            if record is not None:
                action = processes.stop(record)
                pid_file.unlink(missing_ok=True)
                states.append(_state(settings, svc, False, record, action))
            elif svc.is_ready(svc.address(settings)):
                states.append(_state(settings, svc, True, None, "not ours: left running"))
            else:
                states.append(_state(settings, svc, False, None, "not running"))
    return states


def status(settings: StackSettings) -> list[ServiceState]:
    """Ours (by pid file, at the address it was started for) or whatever answers at the config."""
    settings = resolve(settings)
    states = []
    for node in settings.kafka_nodes:
        record = processes.live_record(settings.pid_file(node.service))
        if record is not None and record.address == node.address:
            up_now = kafka_launcher.node_ready(node)  # asks that node, not any of the cluster
        else:
            up_now = KAFKA.is_ready(record.address if record else node.address)
        owner = "ours" if record else ("external" if up_now else "-")
        states.append(_node_state(node, up_now, record, owner))
    record = processes.live_record(settings.pid_file(REDIS.name))
    address = record.address if record else REDIS.address(settings)
    up_now = REDIS.is_ready(address)
    states.append(_state(settings, REDIS, up_now, record,
                         "ours" if record else ("external" if up_now else "-")))
    return states
