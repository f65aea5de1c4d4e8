"""The power collector: a stub report in, Prometheus gauges out, computed at most once
per cache period. (The live power_report is exercised by the integration test.)"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from consumers.power.collector import PowerCollector
from consumers.power.gauges import samples, top_by_reviews
from consumers.stores.memory_store import MemoryStore
from consumers.stores.ops import Entry, hincrby, offsets_key
from consumers.stores.store import Reader
from consumers.views import power

FLOORS = {"EUR": 6_000_000, "USD": 7_250_000}
STUB: dict[str, Any] = {
    "currency": "EUR",
    "workers": 4,
    "requesters": 12,
    "effective_hourly_wage": {"p10": 800_000, "median": 2_100_000, "p90": 7_250_000},
    "share_below_floor": 0.75,
    "unpaid_work_ratio": 0.33,
    "rejection_rate": {"platform": 0.05, "by_requester": {f"r{i}": i / 100 for i in range(12)}},
    "rejection_outliers": ["r11", "r10"],
    "overturned": {"count": 2, "share": 0.1},
    "time_to_pay_seconds": {"p50": 3600.0, "p95": None},
    "hhi": 0.42,
    "dependency": {"median": 0.9, "p90": 1.0},
    "gini": 0.6,
    "take_rate": 0.2,
    "wage_floor_compliance": {"posted": 10, "below_floor": 4, "share_below": 0.4},
}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CountingReport:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.fail = fail

    def __call__(self, reader: Reader, currency: str, floor: int, top_k: int = 10) -> dict:
        self.calls.append((currency, floor, top_k))
        if self.fail:
            raise ConnectionError("redis is away")
        return {**STUB, "currency": currency}


def collector(report: CountingReport, clock: Clock | None = None) -> PowerCollector:
    return PowerCollector(
        MemoryStore(), FLOORS, 259_200, top_k=3, cache_seconds=5.0, report=report,
        clock=clock or Clock(),
    )  # fmt: skip


def registry_of(c: PowerCollector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(c)
    return registry


def scrape(c: PowerCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry_of(c).collect()
        for s in family.samples
    }


def test_money_leaves_micro_units_and_quantiles_become_labels() -> None:
    got = {(name, labels): value for name, labels, value in samples("EUR", STUB, ["r2"])}
    assert got[("piecework_effective_hourly_wage", ("EUR", "0.5"))] == 2.1
    assert got[("piecework_effective_hourly_wage", ("EUR", "0.1"))] == 0.8
    assert got[("piecework_effective_hourly_wage", ("EUR", "0.9"))] == 7.25
    assert got[("piecework_time_to_pay_seconds", ("EUR", "0.5"))] == 3600.0
    assert ("piecework_time_to_pay_seconds", ("EUR", "0.95")) not in got  # None: no sample
    assert got[("piecework_requester_rejection_outliers", ("EUR",))] == 2
    assert got[("piecework_tasks_below_wage_floor_ratio", ("EUR",))] == 0.4
    assert got[("piecework_worker_dependency_ratio", ("EUR", "0.9"))] == 1.0


def reviewed(counts: dict[str, int]) -> MemoryStore:
    store = MemoryStore()
    ops = tuple(hincrby(power.requester_key(r), "reviewed", n) for r, n in counts.items())
    store.apply([Entry(offsets_key(power.VIEW), 0, 0, ops)])
    return store


def test_requester_labels_are_the_top_k_by_reviews() -> None:
    store = reviewed({"r5": 50, "r7": 40, "r2": 40, "r9": 1})
    top = top_by_reviews(store, STUB["rejection_rate"]["by_requester"], 3)
    assert top == ["r5", "r2", "r7"]
    rates = {labels[1]: value for name, labels, value in samples("EUR", STUB, top)
             if name == "piecework_requester_rejection_rate"}  # fmt: skip
    assert rates == {"r5": 0.05, "r2": 0.02, "r7": 0.07}


def test_the_collector_labels_only_top_k_requesters() -> None:
    c = PowerCollector(reviewed({f"r{i}": i for i in range(12)}), FLOORS, 259_200, top_k=3,
                       report=CountingReport())  # fmt: skip
    labelled = {dict(labels)["requester"] for name, labels in scrape(c)
                if name == "piecework_requester_rejection_rate"}  # fmt: skip
    assert labelled == {"r11", "r10", "r9"}


def test_one_report_per_currency_per_cache_period_however_many_scrapes() -> None:
    report, clock = CountingReport(), Clock()
    c = collector(report, clock)
    threads = [threading.Thread(target=scrape, args=(c,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(report.calls) == [("EUR", 6_000_000, 3), ("USD", 7_250_000, 3)]
    clock.now += 4.9
    scrape(c)
    assert len(report.calls) == 2
    clock.now += 0.2
    got = scrape(c)
    assert len(report.calls) == 4
    assert got[("piecework_take_rate", (("currency", "USD"),))] == 0.2


def test_registering_computes_nothing() -> None:
    report = CountingReport()
    registry_of(collector(report))
    assert report.calls == []


def test_the_exposition_carries_floors_delays_and_power() -> None:
    text = generate_latest(registry_of(collector(CountingReport()))).decode()
    assert 'piecework_effective_hourly_wage{currency="EUR",quantile="0.5"} 2.1' in text
    assert 'piecework_wage_floor{currency="USD"} 7.25' in text
    assert "piecework_auto_approve_seconds 259200.0" in text
    # no reviews in the store: ties broken by id, r0, r1, r10
    assert 'piecework_requester_rejection_rate{currency="EUR",requester="r1"} 0.01' in text


def test_a_failed_report_drops_the_power_gauges_but_not_the_scrape() -> None:
    report, clock = CountingReport(fail=True), Clock()
    c = collector(report, clock)
    got = scrape(c)
    assert not [key for key in got if key[0] == "piecework_effective_hourly_wage"]
    assert got[("piecework_power_report_failures_total", ())] == 1
    assert got[("piecework_wage_floor", (("currency", "EUR"),))] == 6.0
    scrape(c)
    assert len(report.calls) == 1  # a failure is cached too: a down Redis is not hammered


def test_a_currency_nobody_paid_in_has_no_power_gauges_unless_pinned() -> None:
    def report(reader: Reader, currency: str, floor: int, top_k: int = 10) -> dict:
        return {**STUB, "totals": {"gross_spend": 1_000 if currency == "EUR" else 0}}

    def currencies(c: PowerCollector) -> set[str]:
        return {dict(labels)["currency"] for name, labels in scrape(c)
                if name == "piecework_effective_hourly_wage"}  # fmt: skip

    assert currencies(PowerCollector(MemoryStore(), FLOORS, 1, report=report)) == {"EUR"}
    pinned = PowerCollector(MemoryStore(), FLOORS, 1, report=report, pinned=["USD"])
    assert currencies(pinned) == {"EUR", "USD"}
