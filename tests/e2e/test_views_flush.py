"""FLUSHALL of the views' Redis under a running stack: the views come back from the log.

The views are a cache of the event log (invariant 4), so losing all of them must cost a
rebuild, not data. The views worker keeps its position in Redis with the view data, so
a flushed store means "start from offset 0": after the flush it exits for a rebuild and
the supervisor (here, the test) starts it again. Rebuilt views must equal a fold of the
exported log, digest for digest. A Redis server of the test's own, so FLUSHALL touches
no other test.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from audit.source import FileLog
from consumers.engine.runner import VIEWS, digests, fold_log
from consumers.stores.ops import offsets_key
from consumers.stores.redis_store import RedisStore
from runtime.settings import Settings
from testkit.stack_processes import HANG_GUARD_S, PATIENCE_S, probe
from tests.faults.load import Market, Plan
from tests.faults.private import private_redis
from tests.faults.roles import fault_stack, kill9, restart
from tests.faults.verdict import (
    assert_nothing_lost_or_duplicated,
    audit,
    read_log,
    wait_quiet,
)

# The worker checks for a flushed store every second when idle; a busy machine delays it.
EXIT_TIMEOUT_S = PATIENCE_S


def export_and_fold(settings: Settings, path: Path) -> tuple[dict[str, str], dict[int, int]]:
    """`piecework export` to a file, folded in memory: (view digests, last offset per
    partition)."""
    cmd = [sys.executable, "-m", "deploy.cli", "export", "--kafka", settings.kafka,
           "--prefix", settings.topics.prefix, "--out", str(path)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=PATIENCE_S)
    records = [item for item in FileLog(path).items() if type(item) is tuple]
    last: dict[int, int] = {}
    for partition, offset, _ in records:
        last[partition] = max(offset, last.get(partition, -1))
    return digests(fold_log(records)), last


def wait_views_reach(store: RedisStore, last: dict[int, int], timeout: float) -> float:
    """Seconds until every view stored, for every partition, its last event's offset."""
    began = time.monotonic()
    while True:
        behind = {}
        for view in VIEWS:
            stored = store.offsets(offsets_key(view))
            if lagging := {p: o for p, o in last.items() if stored.get(p, -1) < o}:
                behind[view] = lagging
        if not behind:
            return time.monotonic() - began
        assert time.monotonic() - began < timeout, f"views still behind the log: {behind}"
        time.sleep(0.5)


@pytest.mark.timeout(HANG_GUARD_S)
def test_flushall_of_the_views_store_rebuilds_every_view_from_the_log(
    kafka_bootstrap, tmp_path
) -> None:
    plan = Plan(requesters=2, workers=6, batches=3, tasks=40, review="mixed")
    with private_redis(tmp_path / "redis") as redis_url, \
            fault_stack(kafka_bootstrap, redis_url, tmp_path / "stack") as stack:
        settings = Settings.from_env(stack.env)
        store = RedisStore.from_url(settings.redis)
        probe(stack)
        market = Market(stack.url, stack.operator_token, plan)
        seen = asyncio.run(market.run())
        wait_quiet(settings)
        before, last = export_and_fold(settings, tmp_path / "before.jsonl")
        wait_views_reach(store, last, timeout=PATIENCE_S)
        assert digests(store) == before, "the live views differ from the log before the flush"

        redis.Redis.from_url(redis_url).flushall()
        views = stack.processes["views"]
        try:
            code = views.wait(timeout=EXIT_TIMEOUT_S)  # it notices and asks for a rebuild
        except subprocess.TimeoutExpired:
            code = None
            kill9(stack, "views")
        began = time.monotonic()
        restart(stack, "views")
        rebuilt_s = wait_views_reach(store, last, timeout=PATIENCE_S)
        after, _ = export_and_fold(settings, tmp_path / "after.jsonl")
        print(f"{len(seen.accepted)} accepted commands; views exited {code} after FLUSHALL; "
              f"rebuilt from the log in {rebuilt_s:.1f} s "
              f"({time.monotonic() - began:.1f} s with the restart)")
        assert code is not None, f"the views worker did not notice the flush in {EXIT_TIMEOUT_S} s"
        assert after == before, "the log changed meanwhile: the comparison proves nothing"
        assert digests(store) == before, "views rebuilt from the log differ from its fold"

        # The flush took the actors' tokens too (they are not in the log): the API's
        # restart installs the operator's again, and the pipeline works end to end.
        kill9(stack, "api")
        restart(stack, "api")
        probe(stack)
        wait_quiet(settings)
        assert_nothing_lost_or_duplicated(read_log(settings), seen.accepted)
        audit(settings, settings.redis)
        stack.assert_alive()
