"""Per-actor token buckets: a misbehaving client slows itself down, not the platform.

Pure: the caller passes the time in. Buckets live in the API process, so with N API
processes the effective limit is N times the configured rate (documented).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, rate_per_second: float, burst: float, max_actors: int = 100_000) -> None:
        self.rate = rate_per_second
        self.burst = burst
        self.max_actors = max_actors
        self._buckets: dict[str, _Bucket] = {}

    def allow(self, actor_id: str, now: float) -> bool:
        bucket = self._buckets.get(actor_id)
        if bucket is None:
            if len(self._buckets) >= self.max_actors:
                self._forget_full(now)
            bucket = self._buckets[actor_id] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def retry_after(self, actor_id: str) -> float:
        bucket = self._buckets.get(actor_id)
        return 0.0 if bucket is None else max(0.0, (1 - bucket.tokens) / self.rate)

    def _forget_full(self, now: float) -> None:
        # A full bucket holds no information: dropping it changes no decision.
        self._buckets = {
            a: b
            for a, b in self._buckets.items()
            if b.tokens + (now - b.updated) * self.rate < self.burst
        }
