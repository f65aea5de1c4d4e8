"""Two views workers in one group split the events partitions, fold the same views as
the replayed log; when one is killed the other takes its partitions and catches up.

The takeover waits for the dead member's session to expire: consumers/engine/worker.py sets
it to 10 s (Faust's default is 60 s).

Every wait is on a condition with the deadline PATIENCE_S: on a busy machine the stack,
the load and the rebalances are all slower, never wrong.
"""

from __future__ import annotations

import ast
import asyncio
import re
import time
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient

from consumers.engine.worker import SESSION_TIMEOUT_SECONDS
from consumers.stores.redis_store import RedisStore
from runtime.settings import Settings
from testkit.stack_processes import HANG_GUARD_S, PATIENCE_S, Stack, probe
from testkit.views_kit import (
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
# Faust's own broker_session_timeout: without SESSION_TIMEOUT_SECONDS in effect, the dead
# worker's partitions would move no sooner than this after the kill, however idle the
# machine. A busy one only adds to the takeover: the bound the takeover must beat.
FAUST_DEFAULT_SESSION_S = 60.0


def assignments(log: Path) -> list[set[int]]:
    """Every assignment the worker logged, in order (its events partitions)."""
    found = ASSIGNED.findall(log.read_text(errors="replace"))
    return [set(ast.literal_eval(offsets)) for _, offsets in found]


def last_assignment(log: Path) -> set[int]:
    found = assignments(log)
    return found[-1] if found else set()


def check_converged(stack: Stack, store: RedisStore, settings: Settings, out: Path) -> int:
    wait_deadlines_settled(store, PATIENCE_S, settings.clock().now_ms, stack.assert_alive)
    records, _ = quiescent_log(settings.kafka, settings.topics.events, store, PATIENCE_S,
                               stack.assert_alive)  # fmt: skip
    wait_views_lag_zero(settings, PATIENCE_S)
    live = live_snapshot(store)
    exported, replayed = export_and_fold(stack.env, out)
    assert len(exported) == len(records)
    assert live.offsets == {v: last_offsets(records) for v in live.offsets}
    assert live.digests == replayed, "the views differ from the fold of the exported log"
    ledger_ok(store)
    ledger_matches_log(store, records)
    return len(records)


def group_members(settings: Settings) -> tuple[str, dict[str, object]]:
    """The group's state and group.instance.id -> assignment, as the group coordinator
    describes the group."""
    group_id = f"{settings.topics.prefix}-views"
    with KafkaAdminClient(bootstrap_servers=settings.kafka) as admin:
        group = admin.describe_groups([group_id])[group_id]
    return group["group_state"], {
        m["group_instance_id"]: _events_partitions(m["member_assignment"], settings)
        for m in group["members"]}  # fmt: skip


def settled_split(stack: Stack, settings: Settings
                  ) -> tuple[dict[str, object], set[int], set[int]]:  # fmt: skip
    """The group's members once it is Stable and each worker logged the assignment the
    coordinator describes: a rebalance in progress (a heartbeat late on a busy machine is
    enough for one) ends first. Fails after PATIENCE_S with what was last seen."""
    deadline = time.monotonic() + PATIENCE_S
    while True:
        stack.assert_alive()
        state, members = group_members(settings)
        a, b = last_assignment(stack.log("views")), last_assignment(stack.log("views-b"))
        described = [v for v in members.values() if isinstance(v, list)]
        if (state == "Stable" and len(described) == len(members)
                and sorted(described) == sorted([sorted(a), sorted(b)])):
            return members, a, b
        assert time.monotonic() < deadline, (
            f"the views group did not settle in {PATIENCE_S:.0f} s: {state} {members}; "
            f"last logged assignments: views {sorted(a)}, views-b {sorted(b)}")
        time.sleep(0.5)


def _events_partitions(assignment: object, settings: Settings) -> object:
    """The events partitions in a decoded ConsumerAssignment (kept raw if unrecognised)."""
    found: set[int] = set()
    items = assignment.get("assigned_partitions", []) if isinstance(assignment, dict) else []
    for item in items:
        if isinstance(item, dict) and item.get("topic") == settings.topics.events:
            found.update(item.get("partitions", ()))
    return sorted(found) if found else assignment


@pytest.mark.timeout(HANG_GUARD_S)
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
        members, a, b = settled_split(stack, settings)
        assert len(members) == 2, members
        assert a and b and not a & b and a | b == set(range(PARTITIONS)), (a, b)
        assert sorted(members.values()) == sorted([sorted(a), sorted(b)]), members

        # Kill one under load: the survivor takes every partition.
        load = Background(Market(stack.url, stack.operator_token, Mix(tasks=1_000))).start()
        load.wait_submitted(200, PATIENCE_S)
        kill9(stack.processes.pop("views"))
        killed = time.monotonic()
        while last_assignment(stack.log("views-b")) != set(range(PARTITIONS)):
            stack.assert_alive()
            assert time.monotonic() - killed < PATIENCE_S, (
                f"no takeover {PATIENCE_S:.0f} s after the kill: views-b holds "
                f"{sorted(last_assignment(stack.log('views-b')))}")
            time.sleep(0.1)
        takeover = time.monotonic() - killed
        load.join()
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
    # The takeover waited for the dead member's session (SESSION_TIMEOUT_SECONDS), plus a
    # rebalance: seconds on a quiet machine, more on a busy one. Faust's default session
    # could not have expired yet: only the worker's own timeout explains a takeover now.
    assert takeover < FAUST_DEFAULT_SESSION_S, (
        f"the takeover took {takeover:.1f} s: as long as Faust's default session timeout "
        f"({FAUST_DEFAULT_SESSION_S:.0f} s), not the worker's {SESSION_TIMEOUT_SECONDS:.0f} s")
