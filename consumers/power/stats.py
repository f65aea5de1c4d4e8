"""Distribution figures behind the power report, in exact integer or rational arithmetic.

Percentiles are nearest-rank (the smallest value with at least p % of the data at or
below it), so they are always observed values and integers stay integers. Shares are
computed as fractions and turned into floats only on the way out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TypeVar

from consumers.views.power import bucket_bounds

T = TypeVar("T", int, Fraction)
MS_PER_HOUR = 3_600_000


def hourly_wage(paid: int, work_ms: int) -> int:
    """paid * 3_600_000 / work_ms in micro-units per hour, rounded half up (work_ms > 0)."""
    return (2 * paid * MS_PER_HOUR + work_ms) // (2 * work_ms)


def nearest_rank(ordered: Sequence[T], pct: int) -> T | None:
    """The value of rank ceil(pct * n / 100) in an ascending sequence; None if empty."""
    if not ordered:
        return None
    rank = max(1, -(-pct * len(ordered) // 100))
    return ordered[rank - 1]


def share(part: int, whole: int) -> Fraction | None:
    return Fraction(part, whole) if whole else None


def gini(values: Sequence[int]) -> Fraction:
    """Gini coefficient: 0 when all are equal, (n - 1) / n when one holds everything."""
    ordered, total = sorted(values), sum(values)
    n = len(ordered)
    if not n or not total:
        return Fraction(0)
    weighted = sum(i * x for i, x in enumerate(ordered, 1))
    return Fraction(2 * weighted, n * total) - Fraction(n + 1, n)


def lorenz(values: Sequence[int]) -> tuple[list[float], list[float]]:
    """Cumulative shares of people (x) and of the total (y), poorest first, from (0, 0)."""
    ordered, total = sorted(values), sum(values)
    xs, ys, running = [0.0], [0.0], 0
    for i, x in enumerate(ordered, 1):
        running += x
        xs.append(i / len(ordered))
        ys.append(running / total if total else i / len(ordered))
    return xs, ys


def hhi(amounts: Sequence[int]) -> Fraction:
    """Herfindahl-Hirschman index on the 0..10,000 scale: sum of squared percent shares."""
    total = sum(amounts)
    if not total:
        return Fraction(0)
    return Fraction(10_000 * sum(a * a for a in amounts), total * total)


def histogram_percentile_ms(histogram: Mapping[int, int], pct: int) -> float | None:
    """Midpoint of the bucket that holds the nearest-rank observation (<= 12.5 % off)."""
    n = sum(histogram.values())
    if not n:
        return None
    rank, seen = max(1, -(-pct * n // 100)), 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            low, high = bucket_bounds(index)
            return (low + high) / 2
    raise AssertionError("unreachable: rank <= n")


def outlier_threshold(
    reviewed: int, rest_rejected: int, rest_reviewed: int, z: float = 3.0
) -> float | None:
    """Threshold a requester's rate must pass to be an outlier, or None if not comparable.

    The platform rate is the rest of the platform's (leave-one-out), so a dominant
    requester cannot hide inside the average it makes; the margin is `z` binomial
    standard errors at the requester's own number of reviews.
    """
    if not reviewed or not rest_reviewed:
        return None
    p = rest_rejected / rest_reviewed
    return p + z * math.sqrt(p * (1 - p) / reviewed)
