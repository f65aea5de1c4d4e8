"""The funnel plot's data: each requester's rejection rate against its number of reviews,
with the exact limit the outlier flag compares it with. Pure.

The flag (consumers/power/scorecard.rejection_outlier, docs/METRICS.md) is one-sided,
needs MIN_REVIEWS reviews and is leave-one-out: each requester is compared with the rest of
the platform, so each has its own limit p_rest + 3 sqrt(p_rest (1 - p_rest) / n). Those
limits are what the rows carry and the plot marks; `curve` draws the funnel with the whole
platform's rate, the limit a small requester would face, as a guide for the eye.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from consumers.power.scorecard import MIN_REVIEWS, OUTLIER_Z, rejection_outlier, wilson_interval
from consumers.power.snapshot import Requester


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def funnel_rows(requesters: Sequence[Requester]) -> list[dict[str, Any]]:
    """One row per requester with reviews, platform totals summed over `requesters` (as the
    report does): rate, its 95 % Wilson interval, the flag's limit (None below
    MIN_REVIEWS) and whether it is flagged. Sorted by reviews, then id."""
    reviewed = sum(r.reviewed for r in requesters)
    rejected = sum(r.rejected for r in requesters)
    rows = []
    for r in sorted(requesters, key=lambda q: (q.reviewed, q.id)):
        if not r.reviewed:
            continue
        low, high = wilson_interval(r.rejected, r.reviewed) or (None, None)
        judged = rejection_outlier(r.reviewed, r.rejected, reviewed, rejected)
        rows.append({
            "requester": r.id, "reviewed": r.reviewed, "rejected": r.rejected,
            "rate": _r(r.rejected / r.reviewed), "low": _r(low), "high": _r(high),
            "limit": None if judged is None else _r(judged[1]),
            "flagged": bool(judged and judged[0]),
        })  # fmt: skip
    return rows


def curve(reviewed: int, rejected: int, largest: int, points: int = 60) -> list[dict[str, Any]]:
    """The upper control limit p + z sqrt(p (1 - p) / n) for n from MIN_REVIEWS to `largest`
    (log-spaced), p the whole platform's rate; empty without reviews."""
    if not reviewed:
        return []
    p, top = rejected / reviewed, max(largest, 2 * MIN_REVIEWS)
    step = math.log(top / MIN_REVIEWS) / (points - 1)
    ns = sorted({round(MIN_REVIEWS * math.exp(i * step)) for i in range(points)})
    return [{"reviews": n, "limit": _r(p + OUTLIER_Z * math.sqrt(p * (1 - p) / n))} for n in ns]
