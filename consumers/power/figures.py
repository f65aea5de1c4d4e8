"""The power report: wages once unpaid time counts, rejections, delays, concentration.

A pure computation over one read of the power view (consumers/power/snapshot.py), so the
live Redis and a MemoryStore rebuilt by replay give the same figures. Definitions and
methods: docs/METRICS.md.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from consumers.power.scorecard import MIN_REVIEWS, OUTLIER_Z, rejection_outlier, scorecard
from consumers.power.snapshot import PowerData, Requester, collect
from consumers.power.stats import (
    gini,
    hhi,
    histogram_percentile_ms,
    hourly_wage,
    nearest_rank,
    share,
)
from consumers.stores.store import Reader

__all__ = ["MIN_REVIEWS", "OUTLIER_Z", "power_report", "summarize"]  # the rule's constants


def power_report(
    reader: Reader, currency: str, wage_floor_per_hour: int, top_k: int = 10
) -> dict[str, Any]:
    """The JSON-ready report; its keys are an interface (the Prometheus exporter reads them)."""
    return summarize(collect(reader, currency), wage_floor_per_hour, top_k)


def _f(x: Fraction | float | None, digits: int = 6) -> float | None:
    return None if x is None else round(float(x), digits)


def summarize(data: PowerData, floor: int, top_k: int = 10) -> dict[str, Any]:
    """The report from one read; `floor` in micro-units per hour, `top_k` requesters listed."""
    workers, reqs = data.workers, data.requesters
    wages = sorted(w.wage for w in workers if w.wage is not None)
    work, unpaid = sum(w.work_ms for w in workers), sum(w.unpaid_ms for w in workers)
    paid = sum(w.paid for w in workers)
    reviewed, rejected = sum(r.reviewed for r in reqs), sum(r.rejected for r in reqs)
    spend, fees = sum(r.spend for r in reqs), sum(r.fees for r in reqs)
    dependency = sorted(Fraction(w.top_paid, w.paid) for w in workers if w.paid > 0)
    posted = data.platform.get("posted", 0)
    below = data.platform.get("below_floor", 0)
    return {
        "currency": data.currency,
        "wage_floor_per_hour": floor,
        "workers": len(workers),
        "requesters": len(reqs),
        "effective_hourly_wage": {
            "p10": nearest_rank(wages, 10),
            "median": nearest_rank(wages, 50),
            "p90": nearest_rank(wages, 90),
            "pooled": hourly_wage(paid, work) if work else None,
        },
        "share_below_floor": _f(share(sum(1 for x in wages if x < floor), len(wages))),
        "unpaid_work_ratio": _f(share(unpaid, work)),
        "pending_work_ratio": _f(share(sum(w.pending_ms for w in workers), work)),
        "rejection_rate": {
            "platform": _f(share(rejected, reviewed)),
            "by_requester": {r.id: _f(share(r.rejected, r.reviewed)) for r in reqs if r.reviewed},
        },
        "rejection_outliers": _outliers(reqs, rejected, reviewed),
        "overturned": {
            "count": sum(r.overturned for r in reqs),
            "share": _f(share(sum(r.overturned for r in reqs), rejected)),
            "disputed": sum(r.disputed for r in reqs),
        },
        "time_to_pay_seconds": {
            "p50": _seconds(histogram_percentile_ms(data.ttp, 50)),
            "p95": _seconds(histogram_percentile_ms(data.ttp, 95)),
            "approvals": sum(data.ttp.values()),
        },
        "hhi": _f(hhi([r.spend for r in reqs]), 1),
        "dependency": {
            "median": _f(nearest_rank(dependency, 50), 4),
            "p90": _f(nearest_rank(dependency, 90), 4),
        },
        "gini": _f(gini([w.paid for w in workers]), 4),
        "take_rate": _f(share(fees, spend)),
        "fee_on_pay": _f(share(fees, spend - fees)),
        "wage_floor_compliance": {
            "posted": posted, "below_floor": below, "share_below": _f(share(below, posted)),
        },
        "top_requesters": _top(reqs, spend, top_k),
        # Every requester's scorecard, by the function the API serves them with.
        "scorecards": {r.id: scorecard(r, reviewed, rejected, data.currency) for r in reqs},
        "totals": {
            "paid": paid, "gross_spend": spend, "fees": fees, "work_ms": work,
            "unpaid_ms": unpaid, "reviewed": reviewed, "rejected": rejected,
        },
    }


def _seconds(ms: float | None) -> int | None:
    return None if ms is None else int(ms / 1000 + 0.5)


def _outliers(reqs: list[Requester], rejected: int, reviewed: int) -> list[dict[str, Any]]:
    found = []
    for r in reqs:
        judged = rejection_outlier(r.reviewed, r.rejected, reviewed, rejected)
        if judged is not None and judged[0]:
            rate, limit = r.rejected / r.reviewed, judged[1]
            found.append({"requester": r.id, "reviewed": r.reviewed, "rejected": r.rejected,
                          "rate": _f(rate), "threshold": _f(limit)})  # fmt: skip
    return sorted(found, key=lambda o: (-o["rate"], o["requester"]))


def _top(reqs: list[Requester], spend: int, top_k: int) -> list[dict[str, Any]]:
    ranked = sorted(reqs, key=lambda r: (-r.spend, -r.reviewed, r.id))[:top_k]
    return [{
        "requester": r.id, "spend": r.spend, "spend_share": _f(share(r.spend, spend)),
        "fees": r.fees, "reviewed": r.reviewed, "rejected": r.rejected,
        "rejection_rate": _f(share(r.rejected, r.reviewed)), "overturned": r.overturned,
        "posted": r.posted, "below_floor": r.below_floor,
    } for r in ranked]  # fmt: skip
