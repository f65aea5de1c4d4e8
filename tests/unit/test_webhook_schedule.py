"""Webhook retries: given a webhook's progress, when an attempt ends, then its next state."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from consumers.webhooks.schedule import (
    FACTOR,
    Progress,
    RetryPolicy,
    backoff_ms,
    ceiling_ms,
    delivered,
    due,
    enabled,
    failed,
    fell_behind,
    skipped,
)

POLICY = RetryPolicy(base_ms=5_000, cap_ms=36_000_000, max_failures=8)
NOW = 1_700_000_000_000


def test_the_default_ceilings_grow_by_the_factor_up_to_the_cap():
    ceilings = [ceiling_ms(n, POLICY) for n in range(1, 8)]
    assert ceilings == [5_000, 30_000, 180_000, 1_080_000, 6_480_000, 36_000_000, 36_000_000]
    assert FACTOR == 6
    assert ceiling_ms(10_000, POLICY) == POLICY.cap_ms  # no huge power computed


@given(st.integers(1, 200), st.floats(0, 1, exclude_max=True))
def test_full_jitter_draws_below_the_ceiling(failures: int, rand: float):
    wait = backoff_ms(failures, rand, POLICY)
    assert 0 <= wait < max(1, ceiling_ms(failures, POLICY))
    assert wait <= POLICY.cap_ms


def test_a_failure_waits_and_keeps_the_cursor():
    start = Progress("v1.5")
    after = failed(start, "HTTP 500", NOW, 0.5, POLICY)
    assert (after.cursor, after.status, after.failures, after.attempts) == ("v1.5", "enabled", 1, 1)
    assert after.next_at == NOW + 2_500 and after.last_error == "HTTP 500"
    assert not due(after, NOW) and due(after, NOW + 2_500)


def test_the_max_failures_th_consecutive_failure_disables():
    progress = Progress("v1.5")
    for n in range(1, POLICY.max_failures):
        progress = failed(progress, f"HTTP 50{n % 10}", NOW, 0.9, POLICY)
        assert progress.status == "enabled" and progress.failures == n
    progress = failed(progress, "timed out", NOW, 0.9, POLICY)
    assert progress.status == "disabled" and progress.failures == POLICY.max_failures
    assert "timed out" in progress.last_error and "8 consecutive" in progress.last_error
    assert not due(progress, NOW + 10**12)


def test_a_success_moves_past_the_event_and_ends_the_streak():
    failing = failed(failed(Progress("v1.5"), "HTTP 500", NOW, 0.5, POLICY), "x", NOW, 0.5, POLICY)
    after = delivered(failing, "v1.6")
    assert after == Progress("v1.6")


def test_enabling_again_resumes_at_the_cursor_with_a_fresh_streak():
    progress = Progress("v1.5")
    for _ in range(POLICY.max_failures):
        progress = failed(progress, "HTTP 500", NOW, 0.5, POLICY)
    again = enabled(progress)
    assert (again.status, again.failures, again.next_at, again.cursor) == ("enabled", 0, 0, "v1.5")
    assert again.attempts == POLICY.max_failures  # the head event's attempts go on counting
    assert due(again, NOW)
    assert failed(again, "HTTP 500", NOW, 0.5, POLICY).status == "enabled"


def test_falling_behind_the_feed_disables_with_the_reason():
    after = fell_behind(Progress("v1.5"), "the feed no longer holds the next events")
    assert after.status == "disabled" and after.cursor == "v1.5"
    assert "no longer holds" in after.last_error


def test_skipping_unwanted_types_moves_only_the_cursor():
    failing = failed(Progress("v1.5"), "HTTP 500", NOW, 0.5, POLICY)
    assert skipped(failing, "v1.9") == Progress("v1.9", "enabled", 1, 1, failing.next_at,
                                                 "HTTP 500")
