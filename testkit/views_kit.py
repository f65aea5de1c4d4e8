"""What the views tests and the views bench share: a Redis DB of one's own, views
processes, a log produced raw, and "caught up" judged by the views' own stored offsets.

Caught up means every view stored, for every partition, the offset of the last event
there: a transaction marker takes an offset too, so the group's committed offset can
stay one below the log end on an idle partition and cannot say that alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient

from audit.live import LiveViews, snapshot
from audit.source import FileLog
from consumers.engine.runner import VIEWS, digests, fold_log
from consumers.stores.ops import offsets_key
from consumers.stores.redis_store import RedisStore
from consumers.views.deadlines import AUTO_APPROVE, LEASES
from consumers.views.ledger import ledger_totals, violations
from runtime.consumer_lag import group_lag
from runtime.kafka_io import read_topic
from runtime.settings import Settings
from schemas.codec import decode_positioned
from schemas.events import (
    BonusGranted,
    PayoutIssued,
    RejectionOverturned,
    SubmissionApproved,
    WorkerCredited,
)
from schemas.positions import Positioned
from testkit.replay_log import encode_log
from testkit.stack_processes import OWNER_KEY, PATIENCE_S, Stack, running_stack

ROOT = Path(__file__).resolve().parent.parent


def db_url(redis_url: str, db: int) -> str:
    return urlunsplit(urlsplit(redis_url)._replace(path=f"/{db}"))


@contextmanager
def own_db(redis_url: str, candidates: Iterable[int], tag: str) -> Iterator[str]:
    """The first free DB among `candidates` (same owner key as running_stack), emptied;
    freed after. The views' keys carry no prefix, so a DB cannot be shared."""
    for db in candidates:
        url = db_url(redis_url, db)
        client = redis.Redis.from_url(url)
        if client.set(OWNER_KEY, tag, nx=True, ex=3600):
            try:
                client.flushdb()
                client.set(OWNER_KEY, tag, ex=3600)
                yield url
            finally:
                client.delete(OWNER_KEY)
                client.close()
            return
        client.close()
    raise RuntimeError(f"no free Redis DB among {list(candidates)}")


def produce(bootstrap: str, topic: str, records: Iterable[Positioned]) -> int:
    """Write events to the partitions the records name, the events that share a record
    offset (one decision, see schemas.positions) in one Kafka record, as the processor does."""
    log = list(records)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024)
    for partition, _, value in encode_log(log):
        producer.send(topic, value, partition=partition)
    producer.flush()
    producer.close()
    return len(log)


def read_log(bootstrap: str, topic: str) -> list[Positioned]:
    return [rec for r in read_topic(bootstrap, topic, "views-test")
            for rec in decode_positioned(r.partition, r.offset, r.value)]  # fmt: skip


def last_offsets(records: Iterable[Positioned]) -> dict[int, int]:
    found: dict[int, int] = {}
    for partition, offset, _ in records:
        found[partition] = max(offset, found.get(partition, -1))
    return found


def stored_offsets(store: RedisStore) -> dict[str, dict[int, int]]:
    return {view: store.offsets(offsets_key(view)) for view in VIEWS}


def behind(store: RedisStore, last: Mapping[int, int]) -> int:
    """How far the least advanced view is behind `last`, in positions (schemas.positions):
    0 is exact, anything else only says "behind"."""
    views = stored_offsets(store)
    return sum(max(0, o - min(v.get(p, -1) for v in views.values())) for p, o in last.items())


def wait_caught_up(store: RedisStore, last: Mapping[int, int], timeout: float,
                   alive: Callable[[], None] = lambda: None) -> float:  # fmt: skip
    """Seconds until every view reached `last`; AssertionError after `timeout`."""
    began = time.monotonic()
    while (left := behind(store, last)) > 0:
        alive()
        assert time.monotonic() - began < timeout, f"views still {left} offsets behind"
        time.sleep(0.1)
    return time.monotonic() - began


def quiescent_log(bootstrap: str, topic: str, store: RedisStore, timeout: float,
                  alive: Callable[[], None] = lambda: None,
                  settle: float = 4.5) -> tuple[list[Positioned], float]:  # fmt: skip
    """Read the log until it stops growing for `settle` seconds with the views caught up
    with all of it; return it and the seconds the views needed after the first read.

    `settle` outlasts the views market's payout interval (3 s of wall time, see
    tests/views_market.STACK_ENV) by half: with 2 s, a payout run could land between two
    equal reads, and an export taken after had 20 more events than the "quiet" log."""
    began = time.monotonic()
    records = read_log(bootstrap, topic)
    waited = wait_caught_up(store, last_offsets(records), timeout, alive)
    while True:
        time.sleep(settle)
        again = read_log(bootstrap, topic)
        if len(again) == len(records):
            return records, waited
        records = again
        wait_caught_up(store, last_offsets(records), timeout - (time.monotonic() - began), alive)


def live_snapshot(store: RedisStore) -> LiveViews:
    live = snapshot(store)
    assert live is not None, "the views kept moving while the test took their digests"
    return live


def fold_digests(records: Iterable[Positioned]) -> dict[str, str]:
    return digests(fold_log(records))


def ledger_ok(store: RedisStore) -> dict[str, dict[str, int]]:
    totals = ledger_totals(store)
    assert totals, "the ledger is empty"
    assert violations(totals) == [], violations(totals)
    return totals


# --- the CLI tools of the audit ---------------------------------------------------------


def piecework(env: Mapping[str, str], *args: str, timeout: float = PATIENCE_S) -> str:
    done = subprocess.run([sys.executable, "-m", "deploy.cli", *args], env=dict(env),
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)  # fmt: skip
    assert done.returncode == 0, f"piecework {' '.join(args)}: {done.returncode}\n{done.stderr}"
    return done.stdout


def export_and_fold(env: Mapping[str, str], out: Path) -> tuple[list[Positioned], dict[str, str]]:
    """`piecework export` the events topic, then fold the file with the views' own code."""
    piecework(env, "export", "--out", str(out))
    records = [item for item in FileLog(out).items() if type(item) is tuple]
    return records, fold_digests(records)  # type: ignore[arg-type]


def audit_json(env: Mapping[str, str]) -> dict:
    """`piecework audit --json` against the live views (exit 0 required: no violation)."""
    return json.loads(piecework(env, "audit", "--json"))


# --- processes --------------------------------------------------------------------------


def start_views(env: Mapping[str, str], instance: str, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        out.write(f"\n----- views {instance} started -----\n".encode())
        out.flush()
        return subprocess.Popen(
            [sys.executable, "-m", "deploy.cli", "run", "views", "--instance", instance],
            env=dict(env), cwd=log.parent, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)  # fmt: skip


def kill9(proc: subprocess.Popen) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def stop(proc: subprocess.Popen, grace: float = 15.0) -> None:
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            kill9(proc)


def restart_views(stack: Stack, instance: str | None = None) -> subprocess.Popen:
    """Start the stack's views role again (same instance id, like a supervisor would)."""
    instance = instance or stack.env["PIECEWORK_TOPIC_PREFIX"].rsplit(".", 1)[1]
    proc = start_views(stack.env, instance, stack.log("views"))
    stack.processes["views"] = proc
    return proc


# --- money, from the log and from the ledger view ---------------------------------------


Account = tuple[str, str]  # worker, currency


def money_from_log(
    records: Iterable[Positioned],
) -> tuple[Counter[str], Counter[Account], Counter[Account]]:
    """Event kinds, and per (worker, currency) what the log says was earned and paid.

    Also checks on the way that nothing is paid twice: one approval per submission, one
    credit per source event, one payout per payout id."""
    kinds: Counter[str] = Counter()
    earned: Counter[Account] = Counter()
    paid: Counter[Account] = Counter()
    once: Counter[tuple] = Counter()
    for _, _, env in records:
        e = env.event
        kinds[type(e).__name__] += 1
        if isinstance(e, SubmissionApproved | RejectionOverturned):
            earned[(e.worker_id, e.currency)] += e.reward
            once[("approved", e.task_id, e.submission_id)] += 1
        elif isinstance(e, BonusGranted):
            earned[(e.worker_id, e.currency)] += e.amount
        elif isinstance(e, WorkerCredited):
            once[("credited", e.source_event_id)] += 1
        elif isinstance(e, PayoutIssued):
            paid[(e.worker_id, e.currency)] += e.amount
            once[("payout", e.worker_id, e.payout_id)] += 1
    twice = [k for k, n in once.items() if n > 1]
    assert not twice, f"paid more than once: {twice[:5]}"
    return kinds, earned, paid


def ledger_matches_log(store: RedisStore, records: list[Positioned]) -> Counter[str]:
    """Per worker: the ledger's `earned` is the log's approvals, `paid` its payouts."""
    kinds, earned, paid = money_from_log(records)
    prefix = "pw:ledger:worker:"
    keys = store.scan(prefix)
    view: dict[Account, dict[str, str]] = {}
    for key, fields in zip(keys, store.hgetall_many(keys), strict=True):
        worker, currency = key[len(prefix) :].rsplit(":", 1)
        view[(worker, currency)] = fields
    for account in set(view) | set(earned) | set(paid):
        fields = view.get(account, {})
        assert int(fields.get("earned", 0)) == earned[account], (account, fields)
        assert int(fields.get("paid", 0)) == paid[account], (account, fields)
    return kinds


# --- a stack -----------------------------------------------------------------------------


@contextmanager
def stack_on_free_db(kafka: str, redis_url: str, workdir: Path, candidates: Iterable[int],
                     **options: Any) -> Iterator[Stack]:  # fmt: skip
    """running_stack on the first Redis DB among `candidates` no other stack owns."""
    for db in candidates:
        with ExitStack() as scope:
            try:
                stack = scope.enter_context(
                    running_stack(kafka, redis_url, workdir, redis_db=db, **options)
                )
            except RuntimeError as exc:
                if "is in use by test stack" in str(exc):
                    continue
                raise
            yield stack
            return
    raise RuntimeError(f"no free Redis DB among {list(candidates)}")


def wait_deadlines_settled(store: RedisStore, timeout: float, now_ms: Callable[[], int],
                           alive: Callable[[], None] = lambda: None) -> float:  # fmt: skip
    """Until no lease and no auto-approval is pending: the timer did all its work."""
    began = time.monotonic()
    while store.client.zcard(LEASES) or store.client.zcard(AUTO_APPROVE):
        alive()
        if time.monotonic() - began > timeout:
            left = {k: store.client.zrange(k, 0, 4, withscores=True)
                    for k in (LEASES, AUTO_APPROVE)}  # fmt: skip
            raise AssertionError(f"deadlines still pending at {now_ms()}: {left}")
        time.sleep(0.25)
    return time.monotonic() - began


def views_lag(settings: Settings) -> int:
    """The views group's lag as the broker reports it (what `piecework lag` prints)."""
    with KafkaAdminClient(bootstrap_servers=settings.kafka, client_id="views-test") as admin:
        return group_lag(admin, f"{settings.topics.prefix}-views", settings.topics.events)


def wait_views_lag_zero(settings: Settings, timeout: float) -> float:
    began = time.monotonic()
    while (lag := views_lag(settings)) > 0:
        assert time.monotonic() - began < timeout, f"views lag still {lag}"
        time.sleep(0.5)
    return time.monotonic() - began
