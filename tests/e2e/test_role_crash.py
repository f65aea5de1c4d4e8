"""kill -9 of the API and of the timer under load, then restart: nothing lost or duplicated.

Clients retry 503s and connection errors with the same Idempotency-Key, so a command the
dead API had already sent is answered from the processor's memory of replies instead of
being decided twice. The timer keeps no state that matters: the deadlines are in the
views, so the restarted timer fires whatever came due while it was dead.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from consumers.stores.redis_store import RedisStore
from consumers.views.deadlines import due
from runtime.settings import Settings
from schemas import events as ev
from testkit.stack_processes import HANG_GUARD_S, PATIENCE_S
from testkit.views_kit import wait_deadlines_settled
from tests.faults.load import Plan, start_load
from tests.faults.roles import fault_stack, kill9, restart
from tests.faults.verdict import (
    assert_nothing_lost_or_duplicated,
    audit,
    read_log,
    wait_quiet,
)


@pytest.mark.timeout(HANG_GUARD_S)
def test_kill_9_of_the_api_under_load_loses_and_duplicates_nothing(
    kafka_bootstrap, redis_url, tmp_path
) -> None:
    plan = Plan(requesters=4, workers=10, batches=4, tasks=50, review="mixed")
    with fault_stack(kafka_bootstrap, redis_url, tmp_path) as stack:
        settings = Settings.from_env(stack.env)
        load = start_load(stack, plan)
        at_kill = load.wait_for(accepted=plan.claims // 2)
        kill9(stack, "api")
        time.sleep(1.0)  # requests in flight died with it; clients are now retrying
        began = time.monotonic()
        restart(stack, "api")
        restart_s = time.monotonic() - began
        seen = load.join()
        wait_quiet(settings)
        log = read_log(settings)
        answered_twice = sum(len(r) > 1 for r in log.replies.values())
        print(f"api killed after {at_kill} accepted commands, back in {restart_s:.1f} s; "
              f"{len(seen.accepted)} accepted, {len(log.events)} events, {answered_twice} "
              f"commands sent again and answered from memory; {dict(seen.outcomes)}")
        assert at_kill < len(seen.accepted), "the load ended before the kill: proves nothing"
        assert seen.claims >= plan.claims * 0.9, f"the load stalled: {dict(seen.outcomes)}"
        assert_nothing_lost_or_duplicated(log, seen.accepted)
        audit(settings, stack.env["PIECEWORK_REDIS"])
        stack.assert_alive()


def _unresolved(events: list, before: int) -> tuple[set[str], set[str]]:
    """Claims whose lease ran out before `before` with no end (submit, release, expiry),
    and submissions due for auto-approval before it that were never reviewed."""
    claims, ended, submitted, reviewed = set(), set(), set(), set()
    for env in events:
        e = env.event
        if isinstance(e, ev.TaskClaimed) and e.lease_expires_at < before:
            claims.add(e.claim_id)
        elif isinstance(e, ev.ClaimReleased | ev.ClaimExpired):
            ended.add(e.claim_id)
        elif isinstance(e, ev.WorkSubmitted):
            ended.add(e.claim_id)
            if e.auto_approve_at < before:
                submitted.add(e.submission_id)
        elif isinstance(e, ev.SubmissionApproved | ev.SubmissionRejected):
            reviewed.add(e.submission_id)
    return claims - ended, submitted - reviewed


def _wait_no_deadline_overdue(settings: Settings, timeout: float) -> None:
    store, clock = RedisStore.from_url(settings.redis), settings.clock()
    deadline = time.monotonic() + timeout
    while (late := due(store, clock.now_ms() - 2_000, 10)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not late, f"deadlines never fired: {late}"


def _overdue_while_dead(settings: Settings, store: RedisStore, at_least_s: float) -> int:
    """Deadlines due with the timer dead, after `at_least_s` and once there are any: the
    views must first fold the claims and submissions that set them, which a busy machine
    makes slower. Nobody fires them meanwhile, so the count only grows."""
    time.sleep(at_least_s)
    deadline = time.monotonic() + PATIENCE_S
    while not (overdue := len(due(store, settings.clock().now_ms(), 10_000))):
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return overdue


@pytest.mark.timeout(HANG_GUARD_S)
def test_kill_9_of_the_timer_under_load_loses_and_duplicates_nothing(
    kafka_bootstrap, redis_url, tmp_path
) -> None:
    # 30x time: leases and auto-approvals fall due 2 s after claim and submission, so the
    # timer is busy the whole time; no requester reviews, the timer approves everything.
    plan = Plan(requesters=2, workers=8, batches=3, tasks=40, submit_ratio=0.6, review="none",
                lease_seconds=60, auto_approve_seconds=60)
    with fault_stack(kafka_bootstrap, redis_url, tmp_path, clock_speed=30) as stack:
        settings = Settings.from_env(stack.env)
        load = start_load(stack, plan)
        store = RedisStore.from_url(settings.redis)
        at_kill = load.wait_for(accepted=plan.claims // 2)
        kill9(stack, "timers")
        # leases and auto-approvals fall due with nobody to fire them
        overdue = _overdue_while_dead(settings, store, at_least_s=4.0)
        restart(stack, "timers")
        seen = load.join()
        _wait_no_deadline_overdue(settings, timeout=PATIENCE_S)
        # The load is over: every lease and auto-approval left falls due within 2 s and
        # the timer fires it; only then does the log hold every expiry and approval.
        wait_deadlines_settled(store, PATIENCE_S, settings.clock().now_ms, stack.assert_alive)
        wait_quiet(settings)
        log = read_log(settings)
        kinds = Counter(type(e.event).__name__ for e in log.events)
        print(f"timer killed after {at_kill} accepted; {overdue} deadlines overdue at restart; "
              f"{len(log.events)} events {dict(kinds)}; {dict(seen.outcomes)}")
        assert at_kill < len(seen.accepted), "the load ended before the kill: proves nothing"
        assert overdue > 0, "nothing fell due while the timer was dead: proves nothing"
        open_claims, unreviewed = _unresolved(log.events, settings.clock().now_ms() - 5_000)
        assert not open_claims, f"leases that never expired: {sorted(open_claims)[:10]}"
        assert not unreviewed, f"submissions never auto-approved: {sorted(unreviewed)[:10]}"
        assert kinds["ClaimExpired"] > 0 and kinds["SubmissionApproved"] > 0
        assert_nothing_lost_or_duplicated(log, seen.accepted)
        audit(settings, stack.env["PIECEWORK_REDIS"])
        stack.assert_alive()
