"""What a simulation saw through the API, and a Client that counts every call it makes."""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from broker.client import ApiError, Client
from deploy.simulation.split import Split

LATENCY_SAMPLES = 100_000


@dataclass
class Summary:
    seed: int
    duration_s: float
    clock_speed: float
    requesters: int
    workers: int
    batches_posted: int = 0
    tasks_posted: int = 0
    assignments_posted: int = 0
    claims: int = 0
    foreign_claims: int = 0  # another run's task on a shared stack, given straight back
    empty_claims: int = 0  # claim_next answered 204: nothing fits now
    submissions: int = 0
    releases: int = 0
    abandons: int = 0
    approvals: int = 0
    rejections: int = 0
    auto_approvals_seen: int = 0  # a late review found the timer had approved it
    bonuses: int = 0
    disputes: int = 0
    overturns: int = 0
    payouts: int = 0
    paid_out: Counter[str] = field(default_factory=Counter)  # currency -> micro-units
    refused: Counter[str] = field(default_factory=Counter)  # 4xx, by code
    errors: Counter[str] = field(default_factory=Counter)  # 5xx by code, transport errors
    calls: int = 0
    reads: int = 0  # GETs among the calls (the rest are commands)
    server_errors: int = 0  # 5xx answers and calls that got no answer at all
    elapsed_s: float = 0.0
    split: Split = field(default_factory=Split)  # informed and uninformed workers
    latencies: list[float] = field(default_factory=list, repr=False)
    _sampler: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    def observe(self, seconds: float) -> None:
        """Reservoir sample of call latencies: bounded memory on long runs."""
        if len(self.latencies) < LATENCY_SAMPLES:
            self.latencies.append(seconds)
        else:
            slot = self._sampler.randrange(self.calls)
            if slot < LATENCY_SAMPLES:
                self.latencies[slot] = seconds

    @property
    def error_rate(self) -> float:
        return self.server_errors / self.calls if self.calls else 0.0

    @property
    def reviews(self) -> int:
        return self.approvals + self.rejections + self.auto_approvals_seen

    def latency_ms(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    def to_json(self) -> dict[str, Any]:
        elapsed = self.elapsed_s or 1e-9
        counts = {k: getattr(self, k) for k in (
            "batches_posted", "tasks_posted", "assignments_posted", "claims", "foreign_claims",
            "empty_claims",
            "submissions", "releases", "abandons", "approvals", "rejections",
            "auto_approvals_seen", "bonuses", "disputes", "overturns", "payouts")}
        return {
            "seed": self.seed,
            "duration_s": self.duration_s,
            "clock_speed": self.clock_speed,
            "requesters": self.requesters,
            "workers": self.workers,
            **counts,
            "paid_out": dict(sorted(self.paid_out.items())),
            "refused": dict(self.refused.most_common()),
            "errors": dict(self.errors.most_common()),
            "calls": self.calls,
            "reads": self.reads,
            "server_errors": self.server_errors,
            "error_rate": round(self.error_rate, 4),
            "elapsed_s": round(self.elapsed_s, 2),
            "calls_per_s": round(self.calls / elapsed, 1),
            "commands_per_s": round((self.calls - self.reads) / elapsed, 1),
            "latency_ms": {"p50": self.latency_ms(0.5), "p95": self.latency_ms(0.95),
                           "p99": self.latency_ms(0.99)},
            "informed": self.split.to_json(),
        }


class TrackedClient(Client):
    """A Client that records every call's outcome in a Summary (and still raises)."""

    def __init__(self, base_url: str, token: str | None, summary: Summary) -> None:
        super().__init__(base_url, token)
        self.summary = summary

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        started = time.perf_counter()
        summary = self.summary
        summary.reads += method == "GET"
        try:
            result = await super().call(method, path, body)
        except ApiError as exc:
            summary.calls += 1
            if exc.status >= 500:
                summary.server_errors += 1
                summary.errors[f"{exc.status} {exc.code}"] += 1
            else:
                summary.refused[exc.code] += 1
            raise
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            # ValueError: a body that is not JSON (a proxy's or a crashed server's page).
            summary.calls += 1
            summary.server_errors += 1
            summary.errors[type(exc).__name__] += 1
            raise
        summary.calls += 1
        summary.observe(time.perf_counter() - started)
        return result
