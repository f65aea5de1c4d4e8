"""Keep a set of child processes running: restart one that dies, with exponential backoff.

`piecework serve` supervises its roles with it. A child that crashes at once again and
again (a bad setting, Kafka gone) is restarted after 0.5 s, 1 s, 2 s, ... up to 30 s, not
every half second; once it has stayed up a minute, its next crash starts again from
0.5 s. Every exit and restart is logged with the wait, so the operator sees it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

Start = Callable[[], subprocess.Popen]


@dataclass(frozen=True)
class RestartPolicy:
    base_s: float = 0.5
    cap_s: float = 30.0
    stable_s: float = 60.0  # up this long, a child counts as healthy again

    def delay(self, crashes: int) -> float:
        """Wait before restarting after `crashes` exits in a row (>= 1)."""
        return min(self.cap_s, self.base_s * 2 ** min(crashes - 1, 32))


@dataclass
class Child:
    name: str
    start: Start
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    crashes: int = 0  # exits in a row, each within stable_s of its start
    restart_at: float | None = None
    restarts: int = 0  # all restarts, for the operator
    history: list[float] = field(default_factory=list)  # the waits chosen, newest last


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
        return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


class Supervisor:
    def __init__(self, starters: Mapping[str, Start], policy: RestartPolicy | None = None,
                 log: logging.Logger | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.children = {name: Child(name, start) for name, start in starters.items()}
        self.policy = policy or RestartPolicy()
        self.log = log or logging.getLogger("piecework.serve")
        self.clock = clock

    def start_all(self) -> None:
        for child in self.children.values():
            self._start(child)

    def _start(self, child: Child) -> None:
        child.process = child.start()
        child.started_at, child.restart_at = self.clock(), None

    def poll(self) -> None:
        """Notice the children that exited, restart those whose wait is over."""
        now = self.clock()
        for child in self.children.values():
            if child.restart_at is None and child.process is not None:
                code = child.process.poll()
                if code is None:
                    continue
                uptime = now - child.started_at
                child.crashes = 1 if uptime >= self.policy.stable_s else child.crashes + 1
                wait = self.policy.delay(child.crashes)
                child.restart_at = now + wait
                child.history.append(wait)
                self.log.warning(
                    "%s %s after %.1f s; restarting in %.1f s (%d in a row)",
                    child.name, describe_exit(code), uptime, wait, child.crashes)
            if child.restart_at is not None and now >= child.restart_at:
                self._start(child)
                child.restarts += 1
                self.log.info("%s restarted (pid %d)", child.name, child.process.pid)

    def pids(self) -> dict[str, int | None]:
        return {name: c.process.pid if c.process and c.restart_at is None else None
                for name, c in self.children.items()}  # fmt: skip

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM every live child, wait for them together, SIGKILL what remains."""
        running = [c.process for c in self.children.values()
                   if c.process is not None and c.process.poll() is None]  # fmt: skip
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        deadline = time.monotonic() + grace_s
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
