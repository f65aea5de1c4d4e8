"""The (single) Kafka broker stopped and started again under load: nothing lost or doubled.

A private broker (own ports, own data dir), so the shared one other tests use is never
touched. SIGTERM through the launcher's pid file, then the launcher starts it again on
the same data dir. Every role stays up through the outage: producers and consumers
reconnect, the processor aborts and replays its open transaction, clients retry.
"""

from __future__ import annotations

import time

import pytest

from runtime.settings import Settings
from testkit.stack_processes import HANG_GUARD_S
from tests.faults.load import Plan, start_load
from tests.faults.private import private_kafka
from tests.faults.roles import fault_stack
from tests.faults.verdict import (
    assert_nothing_lost_or_duplicated,
    audit,
    read_log,
    wait_quiet,
)

OUTAGE_S = 3.0


@pytest.mark.timeout(HANG_GUARD_S)
def test_broker_stop_and_restart_under_load_loses_and_duplicates_nothing(
    redis_url, tmp_path
) -> None:
    plan = Plan(requesters=3, workers=8, batches=4, tasks=40, review="mixed")
    with private_kafka(tmp_path / "kafka") as kafka, \
            fault_stack(kafka.bootstrap, redis_url, tmp_path / "stack") as stack:
        settings = Settings.from_env(stack.env)
        load = start_load(stack, plan)
        at_stop = load.wait_for(accepted=plan.claims // 2)
        began = time.monotonic()
        how = kafka.stop()
        stopped_s = time.monotonic() - began
        time.sleep(OUTAGE_S)  # every role now talks to nobody
        began = time.monotonic()
        kafka.start()
        started_s = time.monotonic() - began
        seen = load.join()
        wait_quiet(settings)
        log = read_log(settings)
        print(f"broker {how} in {stopped_s:.1f} s after {at_stop} accepted commands, down "
              f"{OUTAGE_S:.0f} s, ready again in {started_s:.1f} s; {len(seen.accepted)} "
              f"accepted, {len(log.events)} events; {dict(seen.outcomes)}")
        assert how == "stopped", f"the broker did not stop cleanly on SIGTERM: {how}"
        assert at_stop < len(seen.accepted), "the load ended before the outage: proves nothing"
        assert seen.claims >= plan.claims * 0.9, f"the load stalled: {dict(seen.outcomes)}"
        assert_nothing_lost_or_duplicated(log, seen.accepted)
        audit(settings, stack.env["PIECEWORK_REDIS"])
        stack.assert_alive()
