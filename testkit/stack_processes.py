"""Run piecework's process roles as real subprocesses, for integration and e2e tests.

    with running_stack(kafka_bootstrap, redis_url, tmp_path, clock_speed=600) as stack:
        probe(stack)                      # one claim made end to end: every role works
        ... stack.url, stack.operator_token ...

Each stack has its own topic prefix, HTTP port, Redis database and data dir, so it sees
no other stack's events. Every role logs to a file in `workdir`; if the block raises, the
tail of each log is printed (pytest shows it with the failure).

Tests wait on conditions, never on the machine being idle: every wait for something that
takes seconds on a quiet machine (the stack answering, a claim made end to end, a view
catching up, a load finishing) has the deadline PATIENCE_S, and a 503 or a refused
connection on the way (the processor's 10 s reply timeout while it starts or rebalances)
is tried again, not taken for a failure.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import redis
from kafka.admin import KafkaAdminClient

from broker.client import ApiError, Client
from deploy.topics import create_topics
from runtime.settings import Settings

ROLES = ("processor", "api", "views", "timers")
# Roles a stack runs only when asked (`extra_roles=`), so other stacks do not pay for them.
OPTIONAL_ROLES = ("webhooks",)
STOP_GRACE_S = 10.0
OWNER_KEY = "pw:test-stack:owner"
OWNER_TTL_S = 3600  # a stack killed before its clean-up frees its DB after an hour

# How long a test waits for a condition that comes true within seconds on a quiet
# machine. On a busy one (CI, other engineers' test runs, a CPU hog) everything is many
# times slower, so the deadline is generous: it only decides how late a real failure is
# reported, with the condition's own message. One knob for every such wait.
PATIENCE_S = float(os.environ.get("PIECEWORK_TEST_PATIENCE_S", "300"))
# pytest-timeout for a test that waits on several conditions in a row: the guard against
# a hang in a call with no deadline of its own, never the expected way to fail.
HANG_GUARD_S = 6 * PATIENCE_S
# broker.client.Client retries with a doubling back-off from 0.2 s, with the same
# Idempotency-Key; this many outlast PATIENCE_S of 503s or refused connections.
PATIENT_RETRIES = math.ceil(math.log2(PATIENCE_S / 0.2 + 1))


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
    extra_roles: tuple[str, ...] = (),
    clock_speed: float = 1.0,
    partitions: int = 4,
    extra_env: Mapping[str, str] | None = None,
    ready_timeout: float = PATIENCE_S,
    instance: str | None = None,
) -> Iterator[Stack]:
    """Start `roles` (and `extra_roles`, e.g. "webhooks") against fresh topics and an
    emptied Redis DB `redis_db`; stop them, drop the topics and free the DB after. One DB
    per running stack (see _claim_db). `instance` (default: the stack's random tag) "0"
    gives each role its metrics port (ids are per topic prefix: no other stack fenced)."""
    unknown = set(extra_roles) - set(OPTIONAL_ROLES)
    if unknown:
        raise ValueError(f"extra_roles may name {OPTIONAL_ROLES}, not {sorted(unknown)}")
    roles = (*roles, *(r for r in extra_roles if r not in roles))
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
                cmd = [sys.executable, "-m", "deploy.cli", "run", role, "--instance",
                       instance or tag]
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


@contextmanager
def running_stack_on_a_free_db(kafka_bootstrap: str, redis_url: str, workdir: Path,
                               dbs: tuple[int, ...], **options: Any) -> Iterator[Stack]:
    """running_stack on the first Redis DB of `dbs` that no other running stack owns
    (several test runs may share one Redis server), probed before it is handed out."""
    with ExitStack() as owned:
        for db in dbs:
            try:
                stack = owned.enter_context(running_stack(kafka_bootstrap, redis_url, workdir,
                                                          redis_db=db, **options))
            except RuntimeError as exc:
                if "in use by test stack" in str(exc):
                    continue
                raise
            probe(stack)
            yield stack
            return
    raise RuntimeError(f"Redis DBs {dbs} are all owned by other running test stacks")


async def until_seen(what: str, check: Callable[[], Awaitable[Any]],
                     interval: float = 0.5) -> Any:  # fmt: skip
    """`check()` once it is truthy, within PATIENCE_S; a 404 on the way counts as not yet
    (the views follow the log a moment behind the API's answers)."""
    deadline = time.monotonic() + PATIENCE_S
    while True:
        try:
            found = await check()
        except ApiError as exc:
            if exc.status != 404:
                raise
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {PATIENCE_S:.0f} s")
        await asyncio.sleep(interval)


def probe(stack: Stack, timeout: float = PATIENCE_S) -> float:
    """Create actors, post a task and claim it through the API until that works; return
    the seconds taken.

    A claim needs the processor (decide), the views worker (queue) and the API together.
    While they start, a call may get a 503 (the processor did not answer within the API's
    10 s: starting, rebalancing, or just slow on a busy machine) or no answer: each step
    is tried again until `timeout`. Any other error fails at once, with that error.
    """
    return asyncio.run(_probe(stack, timeout))


def transient(exc: BaseException) -> bool:
    """A failure that says "not now" rather than "wrong": a 503 (the processor did not
    answer in time, the log or the views store unavailable), a 429, or no answer at all."""
    if isinstance(exc, ApiError):
        return exc.status in (429, 503)
    return isinstance(exc, OSError | TimeoutError | aiohttp.ClientError)


@dataclass
class _Patience:
    stack: Stack
    timeout: float
    began: float = field(default_factory=time.monotonic)
    last: BaseException | None = None

    def check(self, doing: str) -> None:
        self.stack.assert_alive()
        waited = time.monotonic() - self.began
        if waited > self.timeout:
            raise AssertionError(
                f"no end-to-end claim after {waited:.0f} s (PIECEWORK_TEST_PATIENCE_S "
                f"{self.timeout:.0f} s): still trying to {doing}; last transient error: "
                f"{self.last!r}\n{self.stack.tails()}")

    async def retry(self, doing: str, attempt: Callable[[int], Awaitable[Any]],
                    done_codes: tuple[str, ...] = ()) -> Any:
        """`attempt(n)` until it returns; a transient failure waits and tries again, an
        ApiError whose code is in `done_codes` means an earlier try got through late."""
        for n in itertools.count():
            try:
                return await attempt(n)
            except ApiError as exc:
                if exc.code in done_codes:
                    return None
                if not transient(exc):
                    raise AssertionError(f"the probe could not {doing}: {exc}\n"
                                         f"{self.stack.tails()}") from exc
                self.last = exc
            except (OSError, TimeoutError, aiohttp.ClientError) as exc:
                self.last = exc
            self.check(doing)
            await asyncio.sleep(0.5)
        raise AssertionError("unreachable")


async def _probe(stack: Stack, timeout: float) -> float:
    patience = _Patience(stack, timeout)
    tag = uuid.uuid4().hex[:6]
    spec = {"kind": "survey", "reward": 1_000_000, "currency": "EUR",
            "estimated_seconds": 60, "payload": {"probe": tag}}
    async with Client(stack.url, stack.operator_token) as operator:
        # Creating an actor is not idempotent (a retry of one created late is a 409): each
        # try names a new one.
        requester_token = await patience.retry("create a requester", lambda n: (
            operator.create_actor(f"probe-r-{tag}-{n}", "requester")))
        worker_token = await patience.retry("create a worker", lambda n: (
            operator.create_actor(f"probe-w-{tag}-{n}", "worker")))
    async with Client(stack.url, requester_token) as requester, \
            Client(stack.url, worker_token) as worker:
        await patience.retry("deposit", lambda n: requester.deposit(10_000_000, "EUR"))
        await patience.retry("post a task", lambda n: requester.post_batch("probe", [spec]),
                             done_codes=("duplicate_batch",))
        while await patience.retry("claim", lambda n: worker.claim_next()) is None:
            patience.check("claim the posted task (not in the queue view yet)")
            await asyncio.sleep(0.25)
    return time.monotonic() - patience.began
