"""Two views workers in one group split the events partitions, fold the same views as
the replayed log; when one is killed the other takes its partitions and catches up.

The takeover waits for the dead member's session to expire: consumers/worker.py sets
it to 10 s (Faust's default is 60 s).
"""

from __future__ import annotations

import ast
import asyncio
import re
import time
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient

from broker.config import Settings
from consumers.redis_store import RedisStore
from consumers.worker import SESSION_TIMEOUT_SECONDS
from tests.stack_processes import Stack, probe
from tests.views_kit import (
    export_and_fold,
    kill9,
    last_offsets,
    ledger_matches_log,
    ledger_ok,
    live_snapshot,
    quiescent_log,
    stack_on_free_db,
    start_views,
    wait_deadlines_settled,
    wait_views_lag_zero,
)
from tests.views_market import STACK_ENV, Background, Market, Mix

DBS = (7, 8, 4, 5, 6)
PARTITIONS = 6
ASSIGNED = re.compile(r"assigned (views-\S+); next offsets in the store: (\{.*\})")


def assignments(log: Path) -> list[set[int]]:
    """Every assignment the worker logged, in order (its events partitions)."""
    found = ASSIGNED.findall(log.read_text(errors="replace"))
    return [set(ast.literal_eval(offsets)) for _, offsets in found]


def check_converged(stack: Stack, store: RedisStore, settings: Settings, out: Path) -> int:
    wait_deadlines_settled(store, 60, settings.clock().now_ms, stack.assert_alive)
    records, _ = quiescent_log(settings.kafka, settings.topics.events, store, 90,
                               stack.assert_alive)  # fmt: skip
    wait_views_lag_zero(settings, 30)
    live = live_snapshot(store)
    exported, replayed = export_and_fold(stack.env, out)
    assert len(exported) == len(records)
    assert live.offsets == {v: last_offsets(records) for v in live.offsets}
    assert live.digests == replayed, "the views differ from the fold of the exported log"
    ledger_ok(store)
    ledger_matches_log(store, records)
    return len(records)


def group_members(settings: Settings) -> dict[str, object]:
    """group.instance.id -> assignment, as the group coordinator describes the group."""
    group_id = f"{settings.topics.prefix}-views"
    with KafkaAdminClient(bootstrap_servers=settings.kafka) as admin:
        group = admin.describe_groups([group_id])[group_id]
    assert group["group_state"] == "Stable", group
    return {m["group_instance_id"]: _events_partitions(m["member_assignment"], settings)
            for m in group["members"]}  # fmt: skip


def _events_partitions(assignment: object, settings: Settings) -> object:
    """The events partitions in a decoded ConsumerAssignment (kept raw if unrecognised)."""
    found: set[int] = set()
    items = assignment.get("assigned_partitions", []) if isinstance(assignment, dict) else []
    for item in items:
        if isinstance(item, dict) and item.get("topic") == settings.topics.events:
            found.update(item.get("partitions", ()))
    return sorted(found) if found else assignment


@pytest.mark.timeout(480)
def test_two_views_workers_split_the_log_and_one_takes_over_from_the_other(
    kafka_bootstrap, redis_url, tmp_path
) -> None:
    with stack_on_free_db(kafka_bootstrap, redis_url, tmp_path, DBS, clock_speed=600,
                          partitions=PARTITIONS, extra_env=STACK_ENV) as stack:  # fmt: skip
        settings = Settings.from_env(stack.env)
        store = RedisStore.from_url(settings.redis)
        instance = settings.topics.prefix.rsplit(".", 1)[1]
        stack.processes["views-b"] = start_views(stack.env, f"{instance}-b", stack.log("views-b"))
        probe(stack)

        # Both members in: each folds some partitions, together all of them.
        asyncio.run(Market(stack.url, stack.operator_token, Mix(tasks=1_500)).run())
        first = check_converged(stack, store, settings, tmp_path / "one.jsonl")
        members = group_members(settings)
        assert len(members) == 2, members
        a, b = assignments(stack.log("views"))[-1], assignments(stack.log("views-b"))[-1]
        assert a and b and not a & b and a | b == set(range(PARTITIONS)), (a, b)
        assert sorted(members.values()) == sorted([sorted(a), sorted(b)]), members

        # Kill one under load: the survivor takes every partition.
        load = Background(Market(stack.url, stack.operator_token, Mix(tasks=1_000))).start()
        load.wait_submitted(200, 120)
        kill9(stack.processes.pop("views"))
        killed = time.monotonic()
        while assignments(stack.log("views-b"))[-1] != set(range(PARTITIONS)):
            stack.assert_alive()
            assert time.monotonic() - killed < 60, "no takeover"
            time.sleep(0.1)
        takeover = time.monotonic() - killed
        load.join(240)
        second = check_converged(stack, store, settings, tmp_path / "two.jsonl")

    print(
        f"\ngroup members: {members}; partitions from the logs: views {sorted(a)}, "
        f"views-b {sorted(b)}"
    )
    print(
        f"{first:,} events folded by two workers = fold of the log; one killed, the other "
        f"took all {PARTITIONS} partitions {takeover:.1f}s later (session timeout "
        f"{SESSION_TIMEOUT_SECONDS:.0f}s); {second:,} events = fold of the log"
    )
    assert takeover < SESSION_TIMEOUT_SECONDS + 20
