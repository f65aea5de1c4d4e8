"""Which gauges the power report becomes: names, labels, units.

Money leaves integer micro-units here, at the presentation edge: wages are currency units
per hour as floats. Quantiles become a `quantile` label as in Prometheus summaries.
Counters (pay, work, reviews, rejections, time to pay) are in
consumers/power/counters.py. Definitions of the figures: docs/METRICS.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.money import MICRO

Sample = tuple[str, tuple[str, ...], float]  # name, label values, value

# name -> (help, label names); every gauge the power collector can yield. Figures that
# do not split by currency (reviews, work time, tasks) carry no currency label; the
# ratios of counters are recording rules instead (consumers/power/counters.py).
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
    "piecework_requester_rejection_outliers": (
        "Requesters the power report flags: rejection rate an outlier against the platform",
        (),
    ),
    "piecework_overturned_rejections_ratio": ("Share of rejections later overturned", ()),
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
        "Share of posted tasks (all currencies) whose reward per estimated hour is below"
        " their currency's floor",
        (),
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
DEPENDENCY_QUANTILES = {"median": "0.5", "p90": "0.9"}


def samples(currency: str, report: Mapping[str, Any]) -> list[Sample]:
    """The per-currency gauges of one currency's report; absent figures (None) left out."""
    out: list[Sample] = []

    def add(name: str, value: Any, *labels: str, scale: float = 1.0) -> None:
        if value is not None:
            out.append((name, (currency, *labels), float(value) / scale))

    def quantiles(name: str, figures: Any, keys: Mapping[str, str], scale: float = 1) -> None:
        for key, quantile in keys.items():
            add(name, (figures or {}).get(key), quantile, scale=scale)

    wage = report.get("effective_hourly_wage")
    quantiles("piecework_effective_hourly_wage", wage, WAGE_QUANTILES, scale=MICRO)
    add("piecework_workers_below_wage_floor_ratio", report.get("share_below_floor"))
    add("piecework_requester_spend_hhi", report.get("hhi"))
    dependency = report.get("dependency")
    quantiles("piecework_worker_dependency_ratio", dependency, DEPENDENCY_QUANTILES)
    add("piecework_worker_earnings_gini", report.get("gini"))
    add("piecework_take_rate", report.get("take_rate"))
    return out


def platform_samples(report: Mapping[str, Any]) -> list[Sample]:
    """The gauges no currency splits, from any currency's report (they are all equal)."""
    def part(key: str, field: str) -> Any:
        return (report.get(key) or {}).get(field)

    outliers = len(report.get("rejection_outliers") or ())
    found = [("piecework_requester_rejection_outliers", outliers),
             ("piecework_overturned_rejections_ratio", part("overturned", "share")),
             ("piecework_tasks_below_wage_floor_ratio",
              part("wage_floor_compliance", "share_below"))]  # fmt: skip
    return [(name, (), float(value)) for name, value in found if value is not None]


def flagged(report: Mapping[str, Any]) -> list[str]:
    """The requesters the report flags as rejection outliers, worst first."""
    return [o["requester"] for o in report.get("rejection_outliers") or ()]
