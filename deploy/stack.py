"""up / down / status of the local Kafka + Redis, shared by the CLI and the test fixtures."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from deploy import kafka_launcher, processes, redis_launcher
from deploy.settings import StackSettings


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


def up(settings: StackSettings, names: Sequence[str] = ("redis", "kafka")) -> list[ServiceState]:
    """Start what is not running; idempotent. Does not create topics (see deploy.topics)."""
    with _locked(settings):
        return [_up_one(settings, SERVICES[name]) for name in names]


def down(settings: StackSettings, names: Sequence[str] = ("kafka", "redis")) -> list[ServiceState]:
    """Stop only what our pid files name; anything else answering is left alone."""
    states = []
    with _locked(settings):
        for name in names:
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
    states = []
    for svc in (KAFKA, REDIS):
        record = processes.live_record(settings.pid_file(svc.name))
        address = record.address if record else svc.address(settings)
        up_now = svc.is_ready(address)
        owner = "ours" if record else ("external" if up_now else "-")
        states.append(_state(settings, svc, up_now, record, owner))
    return states
