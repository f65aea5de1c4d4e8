"""A requester's scorecard: what working for it has been worth, computed from the log.

Pure: one requester's sums (consumers/power/snapshot.Requester) and the platform's review
totals in, a JSON-ready dict out. The power report (consumers/power/figures.py) lists the
same dict per requester and flags outliers with the same rule, so a scorecard served by the
API and the operator's report cannot disagree. Definitions: docs/METRICS.md, "Requester
scorecards".

Figures measured on reviews carry how many reviews they rest on; below MIN_REVIEWS they are
null with status "insufficient_data" rather than noise (a 0 % rejection rate on three
reviews says nothing).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from consumers.power.snapshot import Requester
from consumers.power.stats import histogram_percentile_ms, hourly_wage, outlier_threshold

MIN_REVIEWS = 20  # reviews (or approvals, for time to pay) a figure needs to be shown
OUTLIER_Z = 3.0  # the report's one-sided test, docs/METRICS.md
WILSON_Z = 1.959964  # a 95 % two-sided interval
OK, INSUFFICIENT = "ok", "insufficient_data"


def _f(x: Fraction | float | None, digits: int = 6) -> float | None:
    return None if x is None else round(float(x), digits)


def _status(n: int) -> str:
    return OK if n >= MIN_REVIEWS else INSUFFICIENT


def wilson_interval(successes: int, n: int, z: float = WILSON_Z) -> tuple[float, float] | None:
    """The Wilson score interval of a binomial proportion (None without trials): unlike
    p +/- z*se it stays inside [0, 1] and is honest at 0 and 1 and for small n."""
    if n <= 0:
        return None
    p, z2 = successes / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def rejection_outlier(reviewed: int, rejected: int, platform_reviewed: int,
                      platform_rejected: int) -> tuple[bool, float] | None:  # fmt: skip
    """(flagged, threshold) by the report's rule, or None when it cannot be judged: fewer
    than MIN_REVIEWS reviews, or no other reviews on the platform to compare with.
    The platform totals include the requester's own (left out here: leave-one-out)."""
    if reviewed < MIN_REVIEWS:
        return None
    limit = outlier_threshold(reviewed, platform_rejected - rejected,
                              platform_reviewed - reviewed, OUTLIER_Z)  # fmt: skip
    if limit is None:
        return None
    return rejected / reviewed > limit, limit


def _seconds(ms: float | None) -> int | None:
    return None if ms is None else int(ms / 1000 + 0.5)


def scorecard(r: Requester, platform_reviewed: int, platform_rejected: int,
              currency: str) -> dict[str, Any]:  # fmt: skip
    """The scorecard of `r`; money in `currency` (micro-units), times across currencies."""
    enough = r.reviewed >= MIN_REVIEWS
    wage = hourly_wage(r.paid, r.work_ms) if r.work_ms > 0 else None
    promised = hourly_wage(r.offered, r.offered_s * 1000) if r.offered_s > 0 else None
    interval = wilson_interval(r.rejected, r.reviewed)
    outlier = rejection_outlier(r.reviewed, r.rejected, platform_reviewed, platform_rejected)
    approvals = sum(r.ttp.values())
    paid_fast = approvals >= MIN_REVIEWS
    realised = Fraction(wage, promised) if enough and wage is not None and promised else None
    return {
        "requester_id": r.id,
        "currency": currency,
        "min_reviews": MIN_REVIEWS,
        "reviewed": r.reviewed, "approved": r.approved, "auto_approved": r.auto_approved,
        "rejected": r.rejected, "disputed": r.disputed, "overturned": r.overturned,
        "claims": r.claims, "work_ms": r.work_ms, "unpaid_ms": r.unpaid_ms, "paid": r.paid,
        "effective_hourly_wage": {
            "value": wage if enough else None, "reviews": r.reviewed,
            "status": _status(r.reviewed) if wage is not None else INSUFFICIENT,
        },
        "promised_hourly_wage": promised,
        "realised_share_of_promised": _f(realised),
        "rejection_rate": {
            "value": _f(Fraction(r.rejected, r.reviewed)) if enough else None,
            "low": _f(interval[0]) if enough and interval else None,
            "high": _f(interval[1]) if enough and interval else None,
            "reviews": r.reviewed, "status": _status(r.reviewed),
        },
        "rejection_outlier": {
            "flagged": None if outlier is None else outlier[0],
            "threshold": None if outlier is None else _f(outlier[1]),
            "reviews": r.reviewed, "status": OK if outlier is not None else INSUFFICIENT,
        },
        "overturned_share": {
            "value": _f(Fraction(r.overturned, r.rejected)) if enough and r.rejected else None,
            "reviews": r.reviewed, "status": _status(r.reviewed) if r.rejected else INSUFFICIENT,
        },
        "time_to_pay_seconds": {
            "p50": _seconds(histogram_percentile_ms(r.ttp, 50)) if paid_fast else None,
            "p95": _seconds(histogram_percentile_ms(r.ttp, 95)) if paid_fast else None,
            "approvals": approvals, "status": _status(approvals),
        },
    }  # fmt: skip
