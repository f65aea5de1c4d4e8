"""Run piecework's process roles as real subprocesses, for integration and e2e tests.

    with running_stack(kafka_bootstrap, redis_url, tmp_path, clock_speed=600) as stack:
        probe(stack)                      # one claim made end to end: every role works
        ... stack.url, stack.operator_token ...

Each stack has its own topic prefix, HTTP port, Redis database and data dir, so it sees
no other stack's events. Every role logs to a file in `workdir`; if the block raises, the
tail of each log is printed (pytest shows it with the failure).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis
from kafka.admin import KafkaAdminClient

from broker.client import ApiError, Client
from broker.config import Settings
from deploy.topics import create_topics

ROLES = ("processor", "api", "views", "timers")
STOP_GRACE_S = 10.0
OWNER_KEY = "pw:test-stack:owner"
OWNER_TTL_S = 3600  # a stack killed before its clean-up frees its DB after an hour


@dataclass
class Stack:
    url: str
    operator_token: str
    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def log(self, role: str) -> Path:
        return self.log_dir / f"{role}.log"

    def tails(self, lines: int = 40) -> str:
        parts = []
        for role in self.processes:
            text = self.log(role).read_text(errors="replace").splitlines()
            parts.append(f"----- {role} (last {lines} lines) -----\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)

    def assert_alive(self) -> None:
        dead = {r: p.returncode for r, p in self.processes.items() if p.poll() is not None}
        assert not dead, f"stack processes exited: {dead}\n{self.tails()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_db(redis_url: str, db: int) -> str:
    return urlunsplit(urlsplit(redis_url)._replace(path=f"/{db}"))


def _wait_healthy(stack: Stack, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.assert_alive()
        with suppress(OSError), urllib.request.urlopen(f"{stack.url}/healthz", timeout=1) as r:
            if r.status == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"the API did not answer /healthz in {timeout:.0f} s\n{stack.tails()}")


def _stop(processes: Mapping[str, subprocess.Popen]) -> None:
    for p in processes.values():
        if p.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for p in processes.values():
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _claim_db(url: str, tag: str) -> redis.Redis:
    """Own the DB for this stack, then empty it. The views' keys carry no prefix, so two
    stacks on one DB would read each other's data; the second one fails fast instead."""
    db = redis.Redis.from_url(url)
    if not db.set(OWNER_KEY, tag, nx=True, ex=OWNER_TTL_S):
        owner = db.get(OWNER_KEY)
        db.close()
        raise RuntimeError(f"{url} is in use by test stack {owner!r}: pass another redis_db")
    db.flushdb()
    db.set(OWNER_KEY, tag, ex=OWNER_TTL_S)
    return db


def _drop_topics(bootstrap: str, prefix: str) -> None:
    with suppress(Exception), KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        mine = [t for t in admin.list_topics() if t.startswith(prefix)]
        if mine:
            admin.delete_topics(mine, raise_errors=False)


@contextmanager
def running_stack(
    kafka_bootstrap: str,
    redis_url: str,
    workdir: Path,
    *,
    redis_db: int = 11,
    roles: tuple[str, ...] = ROLES,
    clock_speed: float = 1.0,
    partitions: int = 4,
    extra_env: Mapping[str, str] | None = None,
    ready_timeout: float = 90.0,
) -> Iterator[Stack]:
    """Start `roles` against fresh topics and an emptied Redis DB `redis_db`; stop them,
    drop the topics and free the DB after. One DB per running stack (see _claim_db)."""
    tag = uuid.uuid4().hex[:8]
    prefix = f"t.stack.{tag}"
    port = free_port()
    env = {
        **os.environ,
        "PIECEWORK_KAFKA": kafka_bootstrap,
        "PIECEWORK_REDIS": _with_db(redis_url, redis_db),
        "PIECEWORK_TOPIC_PREFIX": prefix,
        "PIECEWORK_PARTITIONS": str(partitions),
        "PIECEWORK_HTTP_PORT": str(port),
        "PIECEWORK_OPERATOR_TOKEN": f"op-{uuid.uuid4().hex}",
        "PIECEWORK_DATA_DIR": str(workdir / "data"),
        "PIECEWORK_CLOCK_SPEED": str(clock_speed),
        "PIECEWORK_CLOCK_ORIGIN_MS": str(time.time_ns() // 1_000_000),
        **(extra_env or {}),
    }
    settings = Settings.from_env(env)
    db = _claim_db(settings.redis, tag)
    stack = Stack(f"http://127.0.0.1:{port}", env["PIECEWORK_OPERATOR_TOKEN"], env, workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        create_topics(settings.kafka, settings.topics.creation_configs(), settings.partitions)
        for role in roles:
            with open(stack.log(role), "wb") as out:
                # A unique instance: its own transactional id, never fencing another stack's.
                cmd = [sys.executable, "-m", "broker.cli", "run", role, "--instance", tag]
                stack.processes[role] = subprocess.Popen(
                    cmd, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True)
        if "api" in roles:
            _wait_healthy(stack, ready_timeout)
        yield stack
    except BaseException:
        print(stack.tails())
        raise
    finally:
        _stop(stack.processes)
        _drop_topics(settings.kafka, prefix)
        db.delete(OWNER_KEY)
        db.close()


def probe(stack: Stack, timeout: float = 90.0) -> float:
    """Post a task and claim it through the API until that works; return the seconds taken.

    A claim needs the processor (decide), the views worker (queue) and the API together.
    """
    return asyncio.run(_probe(stack, timeout))


async def _probe(stack: Stack, timeout: float) -> float:
    began = time.monotonic()
    tag = uuid.uuid4().hex[:6]
    spec = {"kind": "survey", "reward": 1_000_000, "currency": "EUR",
            "estimated_seconds": 60, "payload": {"probe": tag}}
    async with Client(stack.url, stack.operator_token) as operator:
        requester_token = await operator.create_actor(f"probe-r-{tag}", "requester")
        worker_token = await operator.create_actor(f"probe-w-{tag}", "worker")
    async with Client(stack.url, requester_token) as requester, \
            Client(stack.url, worker_token) as worker:
        for step in (lambda: requester.deposit(10_000_000, "EUR"),
                     lambda: requester.post_batch("probe", [spec])):
            while True:
                try:
                    await step()
                    break
                except ApiError as exc:
                    if exc.code == "duplicate_batch":  # an earlier try got through late
                        break
                    _give_up_after(began, timeout, stack)  # the processor is still starting
                except (OSError, TimeoutError):
                    _give_up_after(began, timeout, stack)
                await asyncio.sleep(0.5)
        while await worker.claim_next() is None:
            _give_up_after(began, timeout, stack)
            await asyncio.sleep(0.25)
    return time.monotonic() - began


def _give_up_after(began: float, timeout: float, stack: Stack) -> None:
    stack.assert_alive()
    if time.monotonic() - began > timeout:
        raise AssertionError(f"no end-to-end claim after {timeout:.0f} s\n{stack.tails()}")
