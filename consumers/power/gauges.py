"""Which gauges the power report becomes: names, labels, units (top_by_reviews reads).

Money leaves integer micro-units here, at the presentation edge: wages are currency units
per hour as floats. Quantiles become a `quantile` label as in Prometheus summaries.
Requester labels are bounded to the top K requesters by reviews. Definitions of the
figures: docs/METRICS.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from consumers.stores.store import Reader
from consumers.views import power
from schemas.money import MICRO

Sample = tuple[str, tuple[str, ...], float]  # name, label values, value

# name -> (help, label names); every gauge the power collector can yield.
GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "piecework_effective_hourly_wage": (
        "Workers' effective hourly wage (pay over all work time, paid or not), "
        "currency units per hour, quantile across workers",
        ("currency", "quantile"),
    ),
    "piecework_wage_floor": ("Configured wage floor, currency units per hour", ("currency",)),
    "piecework_workers_below_wage_floor_ratio": (
        "Share of workers whose effective hourly wage is below the floor",
        ("currency",),
    ),
    "piecework_unpaid_work_ratio": (
        "Work time of claims that earned nothing over all finished work time",
        ("currency",),
    ),
    "piecework_rejection_rate": ("Rejected over reviewed submissions, platform", ("currency",)),
    "piecework_requester_rejection_rate": (
        "Rejected over reviewed submissions of the top requesters by reviews",
        ("currency", "requester"),
    ),
    "piecework_requester_rejection_outliers": (
        "Requesters whose rejection rate is an outlier against the platform",
        ("currency",),
    ),
    "piecework_overturned_rejections_ratio": (
        "Share of rejections later overturned",
        ("currency",),
    ),
    "piecework_time_to_pay_seconds": (
        "From submission to approval, quantile across approvals",
        ("currency", "quantile"),
    ),
    "piecework_requester_spend_hhi": (
        "Herfindahl-Hirschman index of requester gross spend, 0..10000",
        ("currency",),
    ),
    "piecework_worker_dependency_ratio": (
        "Share of a worker's pay from its top requester, quantile across workers",
        ("currency", "quantile"),
    ),
    "piecework_worker_earnings_gini": ("Gini coefficient of worker earnings", ("currency",)),
    "piecework_take_rate": ("Platform fees over gross requester spend", ("currency",)),
    "piecework_tasks_below_wage_floor_ratio": (
        "Share of posted tasks whose reward per estimated hour is below the floor",
        ("currency",),
    ),
    "piecework_auto_approve_seconds": ("Default auto-approval delay of a task", ()),
    "piecework_power_report_duration_seconds": (
        "Time the last power report took, all currencies",
        (),
    ),
}
FAILURES = "piecework_power_report_failures"
FAILURES_HELP = "Power reports that failed (the scrape then has no power gauges)"


WAGE_QUANTILES = {"p10": "0.1", "median": "0.5", "p90": "0.9"}
PAY_QUANTILES = {"p50": "0.5", "p95": "0.95"}
DEPENDENCY_QUANTILES = {"median": "0.5", "p90": "0.9"}


def samples(currency: str, report: Mapping[str, Any], requesters: Sequence[str]) -> list[Sample]:
    """The gauges of one currency's power report; absent figures (None) are left out.
    Per-requester rates are given for `requesters` only (see top_by_reviews)."""
    out: list[Sample] = []

    def add(name: str, value: Any, *labels: str, scale: float = 1.0) -> None:
        if value is not None:
            out.append((name, (currency, *labels), float(value) / scale))

    def quantiles(name: str, figures: Any, keys: Mapping[str, str], scale: float = 1) -> None:
        for key, quantile in keys.items():
            add(name, (figures or {}).get(key), quantile, scale=scale)

    def part(key: str, field: str) -> Any:
        return (report.get(key) or {}).get(field)

    wage = report.get("effective_hourly_wage")
    quantiles("piecework_effective_hourly_wage", wage, WAGE_QUANTILES, scale=MICRO)
    add("piecework_workers_below_wage_floor_ratio", report.get("share_below_floor"))
    add("piecework_unpaid_work_ratio", report.get("unpaid_work_ratio"))
    add("piecework_rejection_rate", part("rejection_rate", "platform"))
    by_requester = part("rejection_rate", "by_requester") or {}
    for requester in requesters:
        add("piecework_requester_rejection_rate", by_requester.get(requester), requester)
    add("piecework_requester_rejection_outliers", len(report.get("rejection_outliers") or ()))
    add("piecework_overturned_rejections_ratio", part("overturned", "share"))
    ttp = report.get("time_to_pay_seconds")
    quantiles("piecework_time_to_pay_seconds", ttp, PAY_QUANTILES)
    add("piecework_requester_spend_hhi", report.get("hhi"))
    dependency = report.get("dependency")
    quantiles("piecework_worker_dependency_ratio", dependency, DEPENDENCY_QUANTILES)
    add("piecework_worker_earnings_gini", report.get("gini"))
    add("piecework_take_rate", report.get("take_rate"))
    add("piecework_tasks_below_wage_floor_ratio", part("wage_floor_compliance", "share_below"))
    return out


def top_by_reviews(reader: Reader, requesters: Iterable[str], k: int) -> list[str]:
    """The k requesters with the most reviews: their rates mean the most, and the label
    set stays bounded. The report gives rates only, so the counts come from the view."""
    ids = sorted(requesters)
    sums = reader.hgetall_many([power.requester_key(r) for r in ids])
    reviewed = {r: int(h.get("reviewed", 0)) for r, h in zip(ids, sums, strict=True)}
    return sorted(ids, key=lambda r: (-reviewed[r], r))[:k]
