"""Platform power as Prometheus gauges and counters, computed from the views when scraped.

A custom collector rather than gauges set by a loop: the figures are only computed when
someone looks, and never older than the cache. The cache (a few seconds, one computation
per currency, behind a lock) means concurrent or repeated scrapes cost at most one report.
What they are: consumers/power/gauges.py and consumers/power/counters.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from consumers.power import counters
from consumers.power.gauges import (
    FAILURES,
    FAILURES_HELP,
    GAUGES,
    Sample,
    flagged,
    platform_samples,
    samples,
)
from consumers.power.snapshot import PowerData
from consumers.stores.store import Reader
from schemas.money import MICRO

log = logging.getLogger(__name__)
Read = Callable[[Reader, str], PowerData]  # snapshot.collect: one read of the view
Report = Callable[..., dict[str, Any]]  # figures.summarize(data, floor, top_k=...)
CACHE_SECONDS = 5.0


def _money_moved(report: Mapping[str, Any]) -> bool:
    # Work time is not per currency, so a currency nobody pays in would show every worker
    # at 0/h, far below its floor: such a currency has no power gauges until money moves.
    totals = report.get("totals")
    return totals is None or bool(totals.get("gross_spend"))


def _live() -> tuple[Read, Report]:
    from consumers.power.figures import summarize  # the read-side modules, imported late
    from consumers.power.snapshot import collect

    return collect, summarize


@dataclass(frozen=True)
class Computed:
    """One computation: per-currency gauges, platform gauges, counter families."""

    gauges: dict[str, list[Sample]] = field(default_factory=dict)
    platform: list[Sample] = field(default_factory=list)
    counters: list[Metric] = field(default_factory=list)


class PowerCollector(Collector):
    def __init__(
        self,
        reader: Reader,
        floors: Mapping[str, int],
        auto_approve_seconds: int,
        top_k: int = 10,
        cache_seconds: float = CACHE_SECONDS,
        report: Report | None = None,
        read: Read | None = None,
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
        self.read = read
        self.clock = clock
        self._lock = threading.Lock()
        self._cached = Computed()
        self._at: float | None = None
        self._duration = 0.0
        self._failures = 0

    def computed(self) -> Computed:
        """The figures, recomputed at most once per cache period."""
        with self._lock:
            now = self.clock()
            if self._at is None or now - self._at >= self.cache_seconds:
                self._cached = self._compute()
                self._at = now
            return self._cached

    def _compute(self) -> Computed:
        started = time.perf_counter()
        found = Computed()
        try:
            live_read, live_report = _live()
            read, report = self.read or live_read, self.report or live_report
            money: list[list[Metric]] = []
            for currency, floor in self.floors.items():
                data = read(self.reader, currency)
                figures = report(data, floor, top_k=self.top_k)
                names = counters.labelled(data.requesters, flagged(figures), self.top_k)
                if not found.counters:  # what no currency splits: from the first read
                    found.platform.extend(platform_samples(figures))
                    found.counters.extend(counters.platform_families(data, names))
                if currency not in self.pinned and not _money_moved(figures):
                    continue
                found.gauges[currency] = samples(currency, figures)
                money.append(counters.money_families(data, names))
            found.counters.extend(counters.merge(money) if money else ())
        except Exception:  # e.g. Redis away: no power figures this period, the rest still served
            log.exception("power report failed")
            self._failures += 1
            return Computed()
        self._duration = time.perf_counter() - started
        return found

    def describe(self) -> Iterable[Metric]:
        # Names only: registering must not compute a report (nor need Redis).
        yield from self._families().values()
        yield from counters.empty().values()
        yield CounterMetricFamily(FAILURES, FAILURES_HELP)

    def collect(self) -> Iterable[Metric]:
        families = self._families()
        computed = self.computed()
        for _, gauges in sorted(computed.gauges.items()):
            for name, labels, value in gauges:
                families[name].add_metric(labels, value)
        for name, labels, value in computed.platform:
            families[name].add_metric(labels, value)
        for currency, floor in sorted(self.floors.items()):
            families["piecework_wage_floor"].add_metric((currency,), floor / MICRO)
        families["piecework_auto_approve_seconds"].add_metric((), self.auto_approve_seconds)
        families["piecework_power_report_duration_seconds"].add_metric((), self._duration)
        yield from families.values()
        yield from computed.counters
        yield CounterMetricFamily(FAILURES, FAILURES_HELP, value=self._failures)

    @staticmethod
    def _families() -> dict[str, GaugeMetricFamily]:
        return {
            name: GaugeMetricFamily(name, text, labels=list(labels))
            for name, (text, labels) in GAUGES.items()
        }
