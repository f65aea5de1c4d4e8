"""Clocks are passed in, never read inside the domain. Time is integer milliseconds."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ScaledClock:
    """Virtual marketplace time running `speed` times faster than the wall clock after `origin_ms`.

    Every process of one deployment shares origin and speed (PIECEWORK_CLOCK_ORIGIN_MS and
    PIECEWORK_CLOCK_SPEED), so they all read the same virtual instant.
    """

    def __init__(self, speed: float, origin_ms: int) -> None:
        self.speed = speed
        self.origin_ms = origin_ms

    def now_ms(self) -> int:
        wall = time.time_ns() // 1_000_000
        return self.origin_ms + int((wall - self.origin_ms) * self.speed)


class FixedClock:
    """For tests: time moves only when told to."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


def clock_for(speed: float, origin_ms: int) -> Clock:
    return SystemClock() if speed == 1.0 else ScaledClock(speed, origin_ms)
