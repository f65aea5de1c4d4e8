"""The four plots of the HTML report, drawn off-screen with matplotlib's Agg canvas.

Each function returns PNG bytes. Figures are built without pyplot, so no global state
and no display are involved (safe in servers and tests).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from consumers.power.report.fmt import duration, money, units
from consumers.power.stats import lorenz, nearest_rank
from consumers.views.power import bucket_bounds

BELOW, ABOVE, ALERT, MUTED, INK = "#d95f02", "#1b9e77", "#c0392b", "#7f8c8d", "#2c3e50"
SIZE = (7.5, 4.0)
TIME_TICKS = [(1, "1 s"), (60, "1 min"), (3_600, "1 h"), (86_400, "1 day"), (259_200, "3 days"),
              (2_592_000, "30 days")]  # fmt: skip
LABEL = {"boxstyle": "square,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85}


def _figure(height: float = SIZE[1]) -> tuple[Figure, Any]:
    fig = Figure(figsize=(SIZE[0], height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _png(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=MUTED)
    ax.set_xticks([])
    ax.set_yticks([])


def wage_histogram(wages: Sequence[int], floor: int, currency: str) -> bytes:
    """Workers by effective hourly wage, below the floor in orange, with the floor line."""
    fig, ax = _figure()
    if not wages:
        _empty(ax, "no finished work yet")
        return _png(fig)
    ordered = sorted(wages)
    # Cut the long tail so the bulk stays readable; the last bin holds everything above.
    top = max(2 * floor, nearest_rank(ordered, 95) or 0, 1)
    edges = [units(top) * i / 30 for i in range(31)]
    clipped = [min(units(w), units(top) * 0.999) for w in ordered]
    ax.hist([x for x in clipped if x < units(floor)], bins=edges, color=BELOW, label="below")
    ax.hist([x for x in clipped if x >= units(floor)], bins=edges, color=ABOVE, label="at/above")
    ax.axvline(units(floor), color=INK, linewidth=2)
    ax.text(units(floor), ax.get_ylim()[1] * 0.97, f" floor {money(floor, currency)}/h",
            va="top", color=INK, bbox=LABEL)  # fmt: skip
    median = nearest_rank(ordered, 50) or 0
    ax.axvline(units(median), color=INK, linestyle="--", linewidth=1)
    ax.text(units(median), ax.get_ylim()[1] * 0.85, f" median {money(median, currency)}/h",
            va="top", color=INK, fontsize=9, bbox=LABEL)  # fmt: skip
    ax.set_xlabel(f"effective hourly wage ({currency}/h, all work time counted; "
                  f"last bar: {money(top, currency)}/h and more)")  # fmt: skip
    ax.set_ylabel("workers")
    ax.legend(title="vs floor", frameon=False, loc="center right")
    return _png(fig)


def rejection_bars(report: Mapping[str, Any]) -> bytes:
    """The biggest requesters and as many of the worst outliers, platform rate as a line."""
    top = report["top_requesters"]
    # Outliers come sorted by rate; a readable chart shows the worst, the JSON lists them all.
    outliers = {o["requester"]: o for o in report["rejection_outliers"][: max(len(top), 1)]}
    rows = {o["requester"]: (o["rate"], o["reviewed"]) for o in outliers.values()}
    for r in top:
        if r["reviewed"]:
            rows.setdefault(r["requester"], (r["rejection_rate"], r["reviewed"]))
    fig, ax = _figure(max(SIZE[1], 1.2 + 0.25 * len(rows)))
    if not rows:
        _empty(ax, "no reviews yet")
        return _png(fig)
    ranked = sorted(rows.items(), key=lambda kv: (kv[1][0], kv[0]))
    names = [f"{name} ({n} reviews)" for name, (_, n) in ranked]
    rates = [100 * rate for _, (rate, _) in ranked]
    colors = [ALERT if name in outliers else MUTED for name, _ in ranked]
    bars = ax.barh(names, rates, color=colors)
    ax.bar_label(bars, fmt="%.0f %%", padding=2, fontsize=8)
    platform = 100 * (report["rejection_rate"]["platform"] or 0)
    ax.axvline(platform, color=INK, linestyle="--", linewidth=1.5)
    ax.text(platform, len(names) - 0.4, f" platform {platform:.1f} %", color=INK, va="bottom",
            bbox=LABEL)  # fmt: skip
    ax.set_xlabel("rejected / reviewed (%); red: flagged outlier")
    ax.set_xlim(0, min(100.0, max(*rates, platform) * 1.2 + 2))
    ax.tick_params(axis="y", labelsize=8)
    return _png(fig)


def time_to_pay_cdf(histogram: Mapping[int, int], p50: int | None, p95: int | None) -> bytes:
    """Share of approvals paid within a delay, from the log-spaced histogram."""
    fig, ax = _figure()
    total = sum(histogram.values())
    if not total:
        _empty(ax, "no approvals yet")
        return _png(fig)
    first = min(histogram)
    xs, ys, seen = [bucket_bounds(first)[0] / 1000], [0.0], 0
    for index in sorted(histogram):
        seen += histogram[index]
        xs.append(bucket_bounds(index)[1] / 1000)
        ys.append(100 * seen / total)
    ax.step(xs, ys, where="post", color=ABOVE, linewidth=2)
    ax.set_xscale("log")
    for value, label in ((p50, "p50"), (p95, "p95")):
        if value:
            ax.axvline(value, color=INK, linestyle="--", linewidth=1)
            ax.text(value, 3, f" {label} {duration(value)}", color=INK, rotation=90, va="bottom",
                    bbox=LABEL)  # fmt: skip
    low, high = xs[0], xs[-1]
    ticks = [(s, t) for s, t in TIME_TICKS if low / 2 <= s <= high * 2]
    ax.set_xticks([s for s, _ in ticks], [t for _, t in ticks])
    ax.set_ylim(0, 102)
    ax.set_xlabel("from submission to approval (log scale)")
    ax.set_ylabel("approvals paid within (%)")
    return _png(fig)


def lorenz_curve(earnings: Sequence[int], gini: float | None) -> bytes:
    """Cumulative share of pay against cumulative share of workers, poorest first."""
    fig, ax = _figure()
    if not earnings:
        _empty(ax, "no workers yet")
        return _png(fig)
    xs, ys = lorenz(earnings)
    xs, ys = [100 * x for x in xs], [100 * y for y in ys]
    ax.plot([0, 100], [0, 100], color=MUTED, linestyle="--", label="everyone earns the same")
    ax.plot(xs, ys, color=BELOW, linewidth=2, label=f"actual earnings (Gini {gini or 0:.2f})")
    ax.fill_between(xs, xs, ys, color=BELOW, alpha=0.15)
    ax.set_xlabel("share of workers, lowest earners first (%)")
    ax.set_ylabel("share of all pay (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_aspect("equal")
    ax.legend(frameon=False, loc="upper left")
    return _png(fig)
