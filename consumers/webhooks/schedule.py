"""When a webhook is tried again, and when it gives up: pure decisions, time passed in.

Backoff is exponential with full jitter: after the n-th consecutive failure the next
attempt waits a uniform draw in [0, min(cap, base * FACTOR**(n-1))) (AWS's "full jitter":
receivers that failed together do not all come back together). With the defaults (base
5 s, cap 10 h, disabled at the 8th failure) the ceilings are 5 s, 30 s, 3 min, 18 min,
1.8 h, 10 h, 10 h: at most ~22 h, on average ~11 h from the first failure to disabling.
A success resets the count; so does enabling a disabled webhook again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

FACTOR = 6
Status = Literal["enabled", "disabled"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_ms: int
    cap_ms: int
    max_failures: int  # consecutive failures that disable a webhook


@dataclass(frozen=True, slots=True)
class Progress:
    """Where one webhook stands in its owner's feed, and how its deliveries go."""

    cursor: str  # feed cursor just after the last event delivered (or skipped by type)
    status: Status = "enabled"
    failures: int = 0  # consecutive failed attempts
    attempts: int = 0  # attempts at the event now at the head
    next_at: int = 0  # epoch ms before which nothing is tried
    last_error: str | None = None


def ceiling_ms(failures: int, policy: RetryPolicy) -> int:
    """The longest wait after `failures` consecutive failures (>= 1)."""
    exponent = max(0, failures - 1)
    # Past the cap the power only grows: stop multiplying before it gets huge.
    if exponent > 64 or policy.base_ms * FACTOR**exponent >= policy.cap_ms:
        return policy.cap_ms
    return policy.base_ms * FACTOR**exponent


def backoff_ms(failures: int, rand: float, policy: RetryPolicy) -> int:
    """The wait before the next attempt; `rand` is a uniform draw in [0, 1)."""
    return int(rand * ceiling_ms(failures, policy))


def due(progress: Progress, now_ms: int) -> bool:
    return progress.status == "enabled" and progress.next_at <= now_ms


def delivered(progress: Progress, cursor: str) -> Progress:
    """The head event was accepted (2xx): move past it; the failure streak ends."""
    return replace(progress, cursor=cursor, failures=0, attempts=0, next_at=0,
                   last_error=None)  # fmt: skip


def skipped(progress: Progress, cursor: str) -> Progress:
    """Events of types the webhook does not want were read past: only the cursor moves."""
    return replace(progress, cursor=cursor)


def failed(progress: Progress, error: str, now_ms: int, rand: float,
           policy: RetryPolicy) -> Progress:  # fmt: skip
    """An attempt failed: wait longer, or disable at the policy's threshold. The cursor
    stays on the event, which is delivered first once the webhook works again."""
    failures = progress.failures + 1
    if failures >= policy.max_failures:
        return replace(progress, failures=failures, attempts=progress.attempts + 1,
                       next_at=0, status="disabled",
                       last_error=f"{error} (disabled after {failures} consecutive failures)")
    return replace(progress, failures=failures, attempts=progress.attempts + 1,
                   next_at=now_ms + backoff_ms(failures, rand, policy), last_error=error)


def fell_behind(progress: Progress, error: str) -> Progress:
    """The feed no longer holds the events after the cursor: disable and say so, rather
    than skip events silently."""
    return replace(progress, status="disabled", next_at=0, last_error=error)


def enabled(progress: Progress) -> Progress:
    """Enabled again by its owner: resume at the cursor, at once, with a fresh streak."""
    return replace(progress, status="enabled", failures=0, next_at=0)
