"""Platform power as Prometheus gauges, computed from the views when Prometheus scrapes.

A custom collector rather than gauges set by a loop: the figures are only computed when
someone looks, and never older than the cache. The cache (a few seconds, one computation
per currency, behind a lock) means concurrent or repeated scrapes cost at most one report.
What the gauges are: consumers/power/gauges.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from consumers.power.gauges import FAILURES, FAILURES_HELP, GAUGES, Sample, samples, top_by_reviews
from consumers.stores.store import Reader
from schemas.money import MICRO

log = logging.getLogger(__name__)
Report = Callable[..., dict[str, Any]]  # power_report(reader, currency, floor, top_k=...)
CACHE_SECONDS = 5.0


def _money_moved(report: Mapping[str, Any]) -> bool:
    # Work time is not per currency, so a currency nobody pays in would show every worker
    # at 0/h, far below its floor: such a currency has no power gauges until money moves.
    totals = report.get("totals")
    return totals is None or bool(totals.get("gross_spend"))


def _live_report() -> Report:
    from consumers.power.figures import power_report  # the read-side module, imported late

    return power_report


class PowerCollector(Collector):
    def __init__(
        self,
        reader: Reader,
        floors: Mapping[str, int],
        auto_approve_seconds: int,
        top_k: int = 10,
        cache_seconds: float = CACHE_SECONDS,
        report: Report | None = None,
        clock: Callable[[], float] = time.monotonic,
        pinned: Collection[str] = (),
    ) -> None:
        self.reader = reader
        self.floors = dict(floors)  # currency -> micro-units per hour
        self.pinned = frozenset(pinned)  # reported even before any money moved in them
        self.auto_approve_seconds = auto_approve_seconds
        self.top_k = top_k
        self.cache_seconds = cache_seconds
        self.report = report
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: dict[str, list[Sample]] = {}
        self._at: float | None = None
        self._duration = 0.0
        self._failures = 0

    def power_samples(self) -> dict[str, list[Sample]]:
        """currency -> its power gauges, recomputed at most once per cache period."""
        with self._lock:
            now = self.clock()
            if self._at is None or now - self._at >= self.cache_seconds:
                self._cached = self._compute()
                self._at = now
            return self._cached

    def _compute(self) -> dict[str, list[Sample]]:
        started = time.perf_counter()
        fresh: dict[str, list[Sample]] = {}
        try:
            report = self.report or _live_report()
            for currency, floor in self.floors.items():
                figures = report(self.reader, currency, floor, top_k=self.top_k)
                if currency not in self.pinned and not _money_moved(figures):
                    continue
                rates = (figures.get("rejection_rate") or {}).get("by_requester") or {}
                top = top_by_reviews(self.reader, rates, self.top_k)
                fresh[currency] = samples(currency, figures, top)
        except Exception:  # e.g. Redis away: no power gauges this period, the rest still served
            log.exception("power report failed")
            self._failures += 1
            return {}
        self._duration = time.perf_counter() - started
        return fresh

    def describe(self) -> Iterable[Metric]:
        # Names only: registering must not compute a report (nor need Redis).
        yield from self._families().values()
        yield CounterMetricFamily(FAILURES, FAILURES_HELP)

    def collect(self) -> Iterable[Metric]:
        families = self._families()
        for _, gauges in sorted(self.power_samples().items()):
            for name, labels, value in gauges:
                families[name].add_metric(labels, value)
        for currency, floor in sorted(self.floors.items()):
            families["piecework_wage_floor"].add_metric((currency,), floor / MICRO)
        families["piecework_auto_approve_seconds"].add_metric((), self.auto_approve_seconds)
        families["piecework_power_report_duration_seconds"].add_metric((), self._duration)
        yield from families.values()
        yield CounterMetricFamily(FAILURES, FAILURES_HELP, value=self._failures)

    @staticmethod
    def _families() -> dict[str, GaugeMetricFamily]:
        return {
            name: GaugeMetricFamily(name, text, labels=list(labels))
            for name, (text, labels) in GAUGES.items()
        }
