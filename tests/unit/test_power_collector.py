"""The power collector: a report in, Prometheus gauges and counters out, computed at most
once per cache period. Gauges from a stub report; counters from a log folded into a
MemoryStore, against the report of the same store. (Live Redis: the integration test.)"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from broker.domain.policy import Policy
from consumers.engine.runner import fold_log
from consumers.power.collector import PowerCollector
from consumers.power.counters import OTHER, labelled
from consumers.power.figures import power_report
from consumers.power.gauges import platform_samples, samples
from consumers.power.snapshot import PowerData, Requester
from consumers.stores.memory_store import MemoryStore
from tests.view_story import full_story

FLOORS = {"EUR": 6_000_000, "USD": 7_250_000}
STUB: dict[str, Any] = {
    "currency": "EUR",
    "workers": 4,
    "requesters": 12,
    "effective_hourly_wage": {"p10": 800_000, "median": 2_100_000, "p90": 7_250_000},
    "share_below_floor": 0.75,
    "unpaid_work_ratio": 0.33,
    "rejection_rate": {"platform": 0.05, "by_requester": {f"r{i}": i / 100 for i in range(12)}},
    "rejection_outliers": [{"requester": "r11"}, {"requester": "r10"}],
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

    def __call__(self, data: PowerData, floor: int, top_k: int = 10) -> dict:
        self.calls.append((data.currency, floor, top_k))
        if self.fail:
            raise ConnectionError("redis is away")
        return {**STUB, "currency": data.currency}


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
    got = {(name, labels): value for name, labels, value in samples("EUR", STUB)}
    assert got[("piecework_effective_hourly_wage", ("EUR", "0.5"))] == 2.1
    assert got[("piecework_effective_hourly_wage", ("EUR", "0.1"))] == 0.8
    assert got[("piecework_effective_hourly_wage", ("EUR", "0.9"))] == 7.25
    assert got[("piecework_worker_dependency_ratio", ("EUR", "0.9"))] == 1.0


def test_figures_no_currency_splits_carry_no_currency_label() -> None:
    got = {name: (labels, value) for name, labels, value in platform_samples(STUB)}
    assert got == {"piecework_requester_rejection_outliers": ((), 2.0),
                   "piecework_overturned_rejections_ratio": ((), 0.1),
                   "piecework_tasks_below_wage_floor_ratio": ((), 0.4)}  # fmt: skip
    per_currency = {name for name, _, _ in samples("EUR", STUB)}
    assert not per_currency & set(got)


def requester(rid: str, reviewed: int) -> Requester:
    return Requester(rid, 0, 0, reviewed, 0, 0, 0, 0, 0)


def test_requester_labels_are_the_top_k_by_reviews_then_the_flagged() -> None:
    reqs = [requester("r5", 50), requester("r7", 40), requester("r2", 40), requester("r9", 1),
            requester("r0", 0)]
    assert labelled(reqs, [], 3) == ["r5", "r2", "r7"]
    # a flagged requester outside the top k is named too, so the alert can see it
    assert labelled(reqs, ["r9", "r5"], 3) == ["r5", "r2", "r7", "r9"]
    assert labelled(reqs, [], 10) == ["r5", "r2", "r7", "r9"]  # none without reviews


def folded() -> MemoryStore:
    store = MemoryStore()
    fold_log(full_story().records, store)
    return store


def test_counters_sum_to_the_reports_totals_and_their_ratios_are_its_figures() -> None:
    store, floors = folded(), Policy().wage_floors
    got = scrape(PowerCollector(store, floors, 259_200, top_k=1))
    want = power_report(store, "EUR", floors["EUR"])
    totals = want["totals"]

    def value(name: str, **labels: str) -> float:
        return got[(name, tuple(sorted(labels.items())))]

    assert value("piecework_reviews_total") == totals["reviewed"]
    assert value("piecework_rejections_total") == totals["rejected"]
    assert value("piecework_work_seconds_total") == totals["work_ms"] / 1000
    assert value("piecework_pay_total", currency="EUR") == totals["paid"] / 1e6
    assert value("piecework_fees_total", currency="EUR") == totals["fees"] / 1e6
    # recording.yml's all-time ratios give the report's figures
    unpaid = (value("piecework_abandoned_work_seconds_total")
              + value("piecework_rejected_work_seconds"))  # fmt: skip
    assert unpaid / value("piecework_work_seconds_total") == pytest.approx(
        want["unpaid_work_ratio"], abs=1e-6)
    rate = value("piecework_rejections_total") / value("piecework_reviews_total")
    assert rate == pytest.approx(want["rejection_rate"]["platform"], abs=1e-6)
    # top 1 by reviews named, the rest as "other": each family sums to the platform's
    named = {dict(labels)["requester"] for name, labels in got
             if name == "piecework_requester_reviews_total"}  # fmt: skip
    assert len(named - {OTHER}) == 1 and OTHER in named
    by_requester = sum(v for (name, _), v in got.items()
                       if name == "piecework_requester_reviews_total")  # fmt: skip
    assert by_requester == totals["reviewed"]
    pay = sum(v for (name, _), v in got.items() if name == "piecework_requester_pay_total")
    assert pay == pytest.approx(totals["paid"] / 1e6)
    # the time-to-pay histogram counts every approval
    assert value("piecework_time_to_pay_seconds_count") == want["time_to_pay_seconds"]["approvals"]
    assert value("piecework_time_to_pay_seconds_bucket", le="+Inf") == value(
        "piecework_time_to_pay_seconds_count")


def test_the_collector_labels_only_top_k_requesters() -> None:
    c = PowerCollector(folded(), Policy().wage_floors, 259_200, top_k=1)
    labelled_now = {dict(labels)["requester"] for name, labels in scrape(c)
                    if name == "piecework_requester_rejections_total"}  # fmt: skip
    assert len(labelled_now) == 2  # one requester and "other"


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
    assert "piecework_reviews_total 0.0" in text  # an empty store: counters at zero
    assert "_created" not in text


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
    def report(data: PowerData, floor: int, top_k: int = 10) -> dict:
        return {**STUB, "totals": {"gross_spend": 1_000 if data.currency == "EUR" else 0}}

    def currencies(c: PowerCollector) -> set[str]:
        return {dict(labels)["currency"] for name, labels in scrape(c)
                if name == "piecework_effective_hourly_wage"}  # fmt: skip

    assert currencies(PowerCollector(MemoryStore(), FLOORS, 1, report=report)) == {"EUR"}
    pinned = PowerCollector(MemoryStore(), FLOORS, 1, report=report, pinned=["USD"])
    assert currencies(pinned) == {"EUR", "USD"}
