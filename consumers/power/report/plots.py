"""The plots of the HTML report, drawn off-screen as SVG with matplotlib's SVG canvas.

Each function takes the rows the page embeds as the chart's data (consumers/power/report/
charts.py builds them) and returns an `<svg>` element to inline, so what is drawn is what a
reader downloads. Figures are built without pyplot: no global state, no display.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from consumers.power.report.fmt import duration, money, units

BELOW, ABOVE, ALERT, MUTED, INK = "#d95f02", "#1b9e77", "#c0392b", "#7f8c8d", "#2c3e50"
CAUSE_COLORS = {"rejected": ALERT, "released": BELOW, "expired": "#e6ab02",
                "pending": "#bdc3c7", "paid": ABOVE}  # fmt: skip
SIZE = (7.5, 4.0)
TIME_TICKS = [(1, "1 s"), (60, "1 min"), (3_600, "1 h"), (86_400, "1 day"), (259_200, "3 days"),
              (2_592_000, "30 days")]  # fmt: skip
LABEL = {"boxstyle": "square,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85}
Rows = Sequence[Mapping[str, Any]]


def _figure(height: float = SIZE[1], panels: int = 1) -> tuple[Figure, Any]:
    fig = Figure(figsize=(SIZE[0], height), dpi=96, layout="constrained")
    FigureCanvasSVG(fig)
    axes = fig.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    for ax in axes:
        ax.spines[["top", "right"]].set_visible(False)
    return fig, axes[0] if panels == 1 else list(axes)


def _svg(fig: Figure) -> str:
    out = io.StringIO()
    fig.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    return text[text.index("<svg") :]  # inline: no XML declaration or doctype


def _empty(fig: Figure, ax: Any, text: str) -> str:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=MUTED)
    ax.set_xticks([])
    ax.set_yticks([])
    return _svg(fig)


def wage_histogram(bins: Rows, floor: int, median: int | None, currency: str) -> str:
    """Workers by effective hourly wage (bins of `charts.wage_bins`), floor and median lines."""
    fig, ax = _figure()
    if not any(b["workers"] for b in bins):
        return _empty(fig, ax, "no finished work yet")
    lefts = [units(b["low"]) for b in bins]
    # The last bin is open ("and more"): drawn as wide as the one before it.
    step = bins[1]["low"] - bins[0]["low"] if len(bins) > 1 else max(bins[0]["low"], 1)
    widths = [units((b["high"] if b["high"] is not None else b["low"] + step) - b["low"])
              for b in bins]  # fmt: skip
    colors = [BELOW if b["below_floor"] else ABOVE for b in bins]
    ax.bar(lefts, [b["workers"] for b in bins], width=widths, align="edge", color=colors)
    ax.axvline(units(floor), color=INK, linewidth=2)
    ax.text(units(floor), ax.get_ylim()[1] * 0.97, f" floor {money(floor, currency)}/h",
            va="top", color=INK, bbox=LABEL)  # fmt: skip
    if median is not None:
        shown = min(units(median), lefts[-1] + widths[-1])
        ax.axvline(shown, color=INK, linestyle="--", linewidth=1)
        ax.text(shown, ax.get_ylim()[1] * 0.85, f" median {money(median, currency)}/h",
                va="top", color=INK, fontsize=9, bbox=LABEL)  # fmt: skip
    ax.set_xlabel(f"effective hourly wage ({currency}/h, all work time counted; "
                  f"last bar: {money(bins[-1]['low'], currency)}/h and more)")  # fmt: skip
    ax.set_ylabel("workers (orange: below the floor)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _svg(fig)


def funnel(rows: Rows, limits: Rows, platform: float | None, min_reviews: int) -> str:
    """Rejection rate against reviews per requester, 95 % intervals, each one's own limit."""
    fig, ax = _figure(4.6)
    if not rows:
        return _empty(fig, ax, "no reviews yet")
    if limits:
        ax.plot([c["reviews"] for c in limits], [100 * c["limit"] for c in limits], color=MUTED,
                linestyle="--", linewidth=1, label="limit at the platform's rate (guide)")
    if platform is not None:
        ax.axhline(100 * platform, color=INK, linewidth=1, label=f"platform {100 * platform:.1f} %")
    left = min(min_reviews, *(r["reviewed"] for r in rows)) / 2
    right = max(2 * min_reviews, *(r["reviewed"] for r in rows)) * 1.5
    ax.set_xlim(left, right)
    ax.axvspan(left, min_reviews, color="#f2f4f5", zorder=0)
    ax.text(left, 0.98, f" < {min_reviews} reviews:\n not judged", color=MUTED, fontsize=8,
            ha="left", va="top", transform=ax.get_xaxis_transform())  # fmt: skip
    for r in rows:
        color = ALERT if r["flagged"] else ABOVE
        ax.plot([r["reviewed"]] * 2, [100 * r["low"], 100 * r["high"]], color=color, alpha=0.35,
                linewidth=2)
        ax.plot(r["reviewed"], 100 * r["rate"], "o", color=color, markersize=5)
        if r["limit"] is not None:  # the flag's own limit for this requester: a short bar
            ax.plot(r["reviewed"], 100 * r["limit"], "_", color=INK, markersize=10)
        if r["flagged"]:
            ax.annotate(r["requester"], (r["reviewed"], 100 * r["rate"]), fontsize=8,
                        xytext=(4, 3), textcoords="offset points", color=ALERT,
                        parse_math=False)
    ax.plot([], [], "_", color=INK, markersize=10, label="its flag limit (leave-one-out)")
    ax.plot([], [], "o", color=ALERT, label="flagged outlier")
    ax.set_xscale("log")
    ax.set_ylim(0, min(100, max(100 * r["high"] for r in rows) * 1.1 + 2))
    ax.set_xlabel("reviews (log scale)")
    ax.set_ylabel("rejected / reviewed (%), 95 % interval")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _svg(fig)


def time_to_pay_cdf(rows: Rows, p50: int | None, p95: int | None) -> str:
    """Share of approvals paid within a delay, from the log-spaced histogram's rows."""
    fig, ax = _figure()
    if not rows:
        return _empty(fig, ax, "no approvals yet")
    xs = [rows[0]["low_ms"] / 1000] + [r["high_ms"] / 1000 for r in rows]
    ys = [0.0] + [100 * r["cumulative_share"] for r in rows]
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
    return _svg(fig)


def lorenz_curve(rows: Rows, gini: float | None) -> str:
    """Cumulative share of pay against cumulative share of workers, poorest first."""
    fig, ax = _figure()
    if len(rows) < 2:
        return _empty(fig, ax, "no workers yet")
    xs = [100 * r["workers_share"] for r in rows]
    ys = [100 * r["pay_share"] for r in rows]
    ax.plot([0, 100], [0, 100], color=MUTED, linestyle="--", label="everyone earns the same")
    ax.plot(xs, ys, color=BELOW, linewidth=2, label=f"actual earnings (Gini {gini or 0:.2f})")
    ax.fill_between(xs, xs, ys, color=BELOW, alpha=0.15)
    ax.set_xlabel("share of workers, lowest earners first (%)")
    ax.set_ylabel("share of all pay (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_aspect("equal")
    ax.legend(frameon=False, loc="upper left")
    return _svg(fig)


def work_by_fate(rows: Rows) -> str:
    """One bar of all work time, split into paid, pending and the three unpaid causes."""
    fig, ax = _figure(2.2)
    total = sum(r["ms"] for r in rows)
    if not total:
        return _empty(fig, ax, "no finished work yet")
    left = 0.0
    for r in rows:
        width = 100 * r["ms"] / total
        ax.barh([0], [width], left=left, color=CAUSE_COLORS[r["cause"]], label=r["cause"])
        if width >= 4:
            ax.text(left + width / 2, 0, f"{width:.0f} %", ha="center", va="center", fontsize=9,
                    color="white" if r["cause"] != "pending" else INK)
        left += width
    ax.set_xlim(0, 100)
    ax.set_yticks([])
    ax.set_xlabel("share of all work time (%)")
    ax.legend(frameon=False, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.45), fontsize=9)
    return _svg(fig)


def promised_realised(rows: Rows, floor: int, currency: str, label: str) -> str:
    """Realised against promised hourly wage, one point per requester or kind; diagonal kept."""
    fig, ax = _figure(4.6)
    shown = [r for r in rows if r["promised_hourly_wage"] and r["realised_hourly_wage"] is not None]
    if not shown:
        return _empty(fig, ax, "no posted terms with finished work yet")
    xs = [units(r["promised_hourly_wage"]) for r in shown]
    ys = [units(r["realised_hourly_wage"]) for r in shown]
    top = max(*xs, *ys, units(floor)) * 1.1
    ax.plot([0, top], [0, top], color=MUTED, linestyle="--", label="realised = promised")
    ax.axhline(units(floor), color=INK, linewidth=1, label=f"floor {money(floor, currency)}/h")
    colors = [BELOW if r["realised_hourly_wage"] < floor else ABOVE for r in shown]
    ax.scatter(xs, ys, color=colors, zorder=3)
    for x, y, r in zip(xs, ys, shown, strict=True):
        ax.annotate(str(r[label]), (x, y), fontsize=8, xytext=(4, 3), textcoords="offset points",
                    parse_math=False)  # ids are text, never mathtext
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel(f"promised: reward / estimated time ({currency}/h)")
    ax.set_ylabel(f"realised: pay / work time ({currency}/h)")
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    return _svg(fig)


def weekly(rows: Rows, floor: int, currency: str) -> str:
    """Three panels per week of work: effective wage, unpaid share, rejection rate with CI."""
    fig, axes = _figure(6.4, panels=3)
    if not rows:
        return _empty(fig, axes[0], "no finished work yet")
    from datetime import UTC, datetime

    days = [datetime.fromtimestamp(r["week_start_ms"] / 1000, UTC) for r in rows]
    wage, unpaid, rejection = axes
    wages = [None if r["effective_hourly_wage"] is None else units(r["effective_hourly_wage"])
             for r in rows]  # fmt: skip
    wage.plot(days, wages, "o-", color=ABOVE)
    wage.axhline(units(floor), color=INK, linewidth=1)
    wage.set_ylabel(f"{currency}/h")
    wage.set_title("effective hourly wage (work of the week)", fontsize=10, loc="left")
    shares = [None if r["unpaid_share"] is None else 100 * r["unpaid_share"] for r in rows]
    unpaid.plot(days, shares, "o-", color=BELOW)
    unpaid.set_ylabel("%")
    unpaid.set_title("work time unpaid (rejected, released, expired)", fontsize=10, loc="left")
    rated = [(d, r) for d, r in zip(days, rows, strict=True) if r["rejection_rate"] is not None]
    if rated:
        rates = [100 * r["rejection_rate"] for _, r in rated]
        below = [100 * (r["rejection_rate"] - r["rejection_low"]) for _, r in rated]
        above = [100 * (r["rejection_high"] - r["rejection_rate"]) for _, r in rated]
        rejection.errorbar([d for d, _ in rated], rates, yerr=[below, above], fmt="o-",
                           color=ALERT, ecolor="#e6b0aa", capsize=3,
                           label="rate, 95 % Wilson interval")  # fmt: skip
        rejection.legend(frameon=False, fontsize=8)
    rejection.set_ylabel("%")
    rejection.set_title("rejection rate (reviews of the week's work)", fontsize=10, loc="left")
    rejection.set_xlabel("week starting (Monday, UTC)")
    for ax in axes:  # from zero: a swing of two points must not look like a collapse
        ax.set_ylim(bottom=0)
    if len(days) <= 16:  # one tick per week while they fit
        rejection.set_xticks(days, [d.strftime("%Y-%m-%d") for d in days])
    fig.autofmt_xdate()
    return _svg(fig)
