"""kill -9 and restart one role of a `running_stack`, as an operator's supervisor would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

from testkit.stack_processes import PATIENCE_S, Stack, running_stack

# Redis DBs no other test file flushes (12: audit and power tests; 4-11, 14, 15 taken too).
FAULT_DBS = (13, 3, 2, 1)


@contextmanager
def fault_stack(kafka: str, redis_url: str, workdir: Path, **options: Any) -> Iterator[Stack]:
    """`running_stack` on the first of FAULT_DBS no other running stack owns."""
    with ExitStack() as owned:
        for db in FAULT_DBS:
            try:
                stack = owned.enter_context(
                    running_stack(kafka, redis_url, workdir, redis_db=db, **options))
            except RuntimeError as exc:
                if "in use by test stack" in str(exc):
                    continue
                raise
            yield stack
            return
    raise AssertionError(f"Redis DBs {FAULT_DBS} are all owned by other running test stacks")


def kill9(stack: Stack, role: str) -> None:
    """SIGKILL the role's whole process group: no handler, no flush, no goodbye."""
    proc = stack.processes[role]
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def restart(stack: Stack, role: str, ready_timeout: float = PATIENCE_S) -> subprocess.Popen:
    """Start the role again with the same environment and instance id (the processor's
    transactional id is stable across restarts, so it fences its dead predecessor)."""
    instance = stack.env["PIECEWORK_TOPIC_PREFIX"].rsplit(".", 1)[1]
    with open(stack.log(role), "ab") as out:
        out.write(f"\n----- {role} restarted -----\n".encode())
        out.flush()
        cmd = [sys.executable, "-m", "deploy.cli", "run", role, "--instance", instance]
        proc = subprocess.Popen(cmd, env=stack.env, cwd=stack.log_dir, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    stack.processes[role] = proc
    if role == "api":
        wait_healthy(stack, ready_timeout)
    return proc


def wait_healthy(stack: Stack, timeout: float) -> float:
    """Seconds until /healthz answers; fails if a role died or time ran out."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        stack.assert_alive()
        with suppress(OSError), urllib.request.urlopen(f"{stack.url}/healthz", timeout=1) as r:
            if r.status == 200:
                return time.monotonic() - began
        time.sleep(0.1)
    raise AssertionError(f"the API did not answer /healthz in {timeout:.0f} s\n{stack.tails()}")
