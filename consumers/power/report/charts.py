"""Each chart of the HTML report as data first: the rows it plots, then the SVG from them.

The rows are what the page embeds (JSON) and offers for download (CSV), so a reader can
redraw or check every chart. Builders of rows are pure; `build` draws them.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from consumers.power.histogram import bucket_bounds
from consumers.power.report import captions, plots
from consumers.power.report.funnel import curve, funnel_rows
from consumers.power.scorecard import MIN_REVIEWS
from consumers.power.snapshot import PowerData
from consumers.power.stats import nearest_rank

BINS_TO_FLOOR = 15  # histogram bins below the floor, so the floor is a bin edge
MAX_BINS = 60


@dataclass(frozen=True)
class Chart:
    name: str  # the id of its data block and the name of its CSV
    title: str
    caption: str
    rows: list[dict[str, Any]]
    svg: str
    meta: dict[str, Any] = field(default_factory=dict)  # scalars the chart also draws

    def data(self) -> dict[str, Any]:
        return {"chart": self.name, "title": self.title, **self.meta, "rows": self.rows}


def wage_bins(wages: Sequence[int], floor: int) -> list[dict[str, Any]]:
    """Workers per wage bin; the floor is a bin edge and the last bin is open (high None)."""
    ordered = sorted(wages)
    top = max(2 * floor, nearest_rank(ordered, 95) or 0, 1)
    per_floor = BINS_TO_FLOOR
    while per_floor > 1 and -(-top * per_floor // max(floor, 1)) > MAX_BINS:
        per_floor //= 2
    unit = max(floor, 1)
    count = max(1, -(-top * per_floor // unit))
    lows = [i * unit // per_floor for i in range(count)]
    workers = [0] * count
    for w in ordered:
        workers[bisect.bisect_right(lows, w) - 1 if w >= 0 else 0] += 1
    return [{"low": low, "high": lows[i + 1] if i + 1 < count else None, "workers": workers[i],
             "below_floor": i < per_floor}
            for i, low in enumerate(lows)]  # fmt: skip


def ttp_rows(histogram: Mapping[int, int]) -> list[dict[str, Any]]:
    total, seen, rows = sum(histogram.values()), 0, []
    for index in sorted(histogram):
        seen += histogram[index]
        low, high = bucket_bounds(index)
        rows.append({"low_ms": low, "high_ms": high, "approvals": histogram[index],
                     "cumulative_share": round(seen / total, 6)})  # fmt: skip
    return rows


def lorenz_rows(earnings: Sequence[int], points: int = 100) -> list[dict[str, Any]]:
    """The Lorenz curve at each percent of workers (nearest rank), from (0, 0)."""
    ordered, n = sorted(earnings), len(earnings)
    if not n:
        return []
    total, running, cumulative = sum(ordered), 0, [0]
    for x in ordered:
        running += x
        cumulative.append(running)
    ranks = sorted({-(-k * n // points) for k in range(points + 1)} | {0})
    return [{"workers": i, "workers_share": round(i / n, 6),
             "pay_share": round(cumulative[i] / total if total else i / n, 6)}
            for i in ranks]  # fmt: skip


def _top_decile_share(earnings: list[int]) -> float | None:
    total = sum(earnings)
    if not total:
        return None
    top = sorted(earnings, reverse=True)[: -(-len(earnings) // 10)]
    return sum(top) / total


def build(r: dict[str, Any], data: PowerData, history: Mapping[str, Any]) -> list[Chart]:
    """Every chart of the page, from the report, its data and the replayed history."""
    c, floor, ttp = r["currency"], r["wage_floor_per_hour"], r["time_to_pay_seconds"]
    wage_rows = wage_bins([w.wage for w in data.workers if w.wage is not None], floor)
    funnel = funnel_rows(data.requesters)
    limits = curve(r["totals"]["reviewed"], r["totals"]["rejected"],
                   max((f["reviewed"] for f in funnel), default=0))  # fmt: skip
    fate = history["unpaid_by_cause"]
    by_requester = history["promised_vs_realised"]["by_requester"]
    weeks = history["weekly"]
    ttp_data = ttp_rows(data.ttp)
    earnings = [w.paid for w in data.workers]
    text = captions.captions(r, funnel, fate, by_requester, weeks, _top_decile_share(earnings))
    median = r["effective_hourly_wage"]["median"]
    return [
        Chart("wages", "Effective hourly wage against the floor", text["wage"], wage_rows,
              plots.wage_histogram(wage_rows, floor, median, c),
              {"currency": c, "floor_per_hour": floor, "median": median}),
        Chart("rejections", "Rejection outliers: a funnel plot", text["rejections"], funnel,
              plots.funnel(funnel, limits, r["rejection_rate"]["platform"], MIN_REVIEWS),
              {"platform_rate": r["rejection_rate"]["platform"], "min_reviews": MIN_REVIEWS,
               "guide": limits}),
        Chart("work_by_fate", "Unpaid time by cause", text["fate"], fate,
              plots.work_by_fate(fate)),
        Chart("promised_vs_realised", "Promised wage against realised, per requester",
              text["promised"], by_requester,
              plots.promised_realised(by_requester, floor, c, "requester"),
              {"currency": c, "floor_per_hour": floor}),
        Chart("weekly", "Trends: week by week", text["weekly"], weeks,
              plots.weekly(weeks, floor, c), {"currency": c}),
        Chart("time_to_pay", "Time to pay", text["ttp"], ttp_data,
              plots.time_to_pay_cdf(ttp_data, ttp["p50"], ttp["p95"]),
              {"p50_seconds": ttp["p50"], "p95_seconds": ttp["p95"]}),
        Chart("lorenz", "Who gets the pay: Lorenz curve of earnings", text["lorenz"],
              lorenz_rows(earnings), plots.lorenz_curve(lorenz_rows(earnings), r["gini"]),
              {"gini": r["gini"]}),
    ]  # fmt: skip
