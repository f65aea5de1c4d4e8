"""Detached processes we own, known by pid file: start, check, stop. Never by name."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class PidRecord:
    pid: int
    # Kernel start time of the process: a recycled pid has another, so we never kill a stranger.
    start_ticks: int | None
    argv0: str
    # What it serves (bootstrap or URL): the same data dir may be asked for another address.
    address: str = ""


def start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (clock ticks after boot); None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after its ')' are plain.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def is_running(record: PidRecord) -> bool:
    _reap(record.pid)
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if _state(record.pid) in ("Z", "X"):
        return False
    ticks = start_ticks(record.pid)
    return record.start_ticks is None or ticks is None or ticks == record.start_ticks


def _reap(pid: int) -> None:
    """Collect the exit status if we are the parent (tests), so no zombie looks alive."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def spawn_detached(
    argv: Sequence[str], log_file: Path, cwd: Path | None = None, address: str = ""
) -> PidRecord:
    """Start in its own session with output to a file, so it outlives the caller and its tty."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
    return PidRecord(proc.pid, start_ticks(proc.pid), str(argv[0]), address)


def write_pid(path: Path, record: PidRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record)) + "\n")
    tmp.replace(path)


def read_pid(path: Path) -> PidRecord | None:
    try:
        return PidRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def live_record(path: Path) -> PidRecord | None:
    """The recorded process if it still runs; a stale pid file is removed."""
    record = read_pid(path)
    if record is not None and is_running(record):
        return record
    path.unlink(missing_ok=True)
    return None


def stop(record: PidRecord, grace_seconds: float = 30.0) -> str:
    """SIGTERM, wait for a clean exit, then SIGKILL. Returns how it ended."""
    if not is_running(record):
        return "not running"
    os.kill(record.pid, signal.SIGTERM)
    if wait_until(lambda: not is_running(record), grace_seconds):
        return "stopped"
    os.kill(record.pid, signal.SIGKILL)
    wait_until(lambda: not is_running(record), 10.0)
    return "killed"


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    interval: float = 0.2,
    abort: Callable[[], str | None] | None = None,
) -> bool:
    """Poll until predicate() is true or time runs out; abort() may raise early with a reason."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if abort is not None and (reason := abort()):
            raise RuntimeError(reason)
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop_all(records: Sequence[PidRecord], grace_seconds: float = 30.0) -> list[str]:
    """SIGTERM every one, then wait for all: the nodes of a quorum stop together, while a
    majority of controllers still answers their controlled-shutdown requests (one at a
    time, the last ones would wait for a quorum that is gone)."""
    running = [r for r in records if is_running(r)]
    for record in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGTERM)
    wait_until(lambda: not any(is_running(r) for r in running), grace_seconds)
    actions = {}
    for record in records:
        if record not in running:
            actions[record.pid] = "not running"
        elif is_running(record):
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGKILL)
            wait_until(lambda r=record: not is_running(r), 10.0)
            actions[record.pid] = "killed"
        else:
            actions[record.pid] = "stopped"
    return [actions[r.pid] for r in records]
