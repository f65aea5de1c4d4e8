"""`piecework serve`'s supervisor: a child that keeps crashing is restarted after waits
that double up to a cap, and back at the first wait once it stayed up; each exit and
restart is logged. Real child processes, a hand-driven clock."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from deploy.supervisor import RestartPolicy, Supervisor, describe_exit


def test_the_wait_doubles_from_the_base_up_to_the_cap() -> None:
    policy = RestartPolicy(base_s=0.5, cap_s=30.0)
    assert [policy.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert policy.delay(10_000) == 30.0  # no overflow however long it crashes


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def crashing() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])


def settle(supervisor: Supervisor) -> None:
    """Let the child at hand finish (it exits at once) before the next poll sees it."""
    for child in supervisor.children.values():
        if child.process is not None:
            child.process.wait(timeout=60)


def test_a_crash_loop_backs_off_then_resets_after_a_stable_run(
        caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    clock = Clock()
    policy = RestartPolicy(base_s=0.5, cap_s=4.0, stable_s=60.0)
    log = logging.getLogger("test.supervisor")
    supervisor = Supervisor({"views-0": crashing}, policy, log, clock)
    child = supervisor.children["views-0"]
    supervisor.start_all()
    caplog.set_level(logging.INFO, logger="test.supervisor")
    for _ in range(5):  # five quick crashes: 0.5, 1, 2, 4, 4 (capped)
        settle(supervisor)
        supervisor.poll()
        assert child.restart_at is not None
        clock.now += child.history[-1] - 0.01
        supervisor.poll()  # not yet: the wait is not over
        assert child.restart_at is not None
        clock.now += 0.01
        supervisor.poll()
        assert child.restart_at is None and child.process is not None
    assert child.history == [0.5, 1.0, 2.0, 4.0, 4.0] and child.restarts == 5
    settle(supervisor)
    clock.now += 61.0  # it ran a minute before this crash: healthy again
    supervisor.poll()
    assert child.history[-1] == 0.5 and child.crashes == 1
    said = [r.getMessage() for r in caplog.records]
    assert "views-0 exited with status 3 after 0.0 s; restarting in 0.5 s (1 in a row)" in said
    assert any(m.startswith("views-0 exited with status 3 after 0.0 s; restarting in 4.0 s "
                            "(5 in a row)") for m in said)  # fmt: skip
    assert sum(m.startswith("views-0 restarted (pid ") for m in said) == 5
    supervisor.stop(grace_s=5)


def test_a_running_child_is_left_alone_and_stopped_at_the_end() -> None:
    def sleeper() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    supervisor = Supervisor({"api-0": sleeper}, RestartPolicy(), clock=Clock())
    supervisor.start_all()
    first = supervisor.children["api-0"].process
    supervisor.poll()
    assert supervisor.children["api-0"].process is first and first.poll() is None
    supervisor.stop(grace_s=10)
    assert first.returncode == -15  # SIGTERM, within the grace


def test_exits_are_told_in_words() -> None:
    assert describe_exit(3) == "exited with status 3"
    assert describe_exit(-9) == "killed by SIGKILL"
