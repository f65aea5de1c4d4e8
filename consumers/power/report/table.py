"""The power report as rich tables for the terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from consumers.power.report.fmt import duration, money, number, pct, per_hour


def _figures(r: dict[str, Any]) -> Table:
    c, wage, ttp = r["currency"], r["effective_hourly_wage"], r["time_to_pay_seconds"]
    rej, wfc, dep = r["rejection_rate"], r["wage_floor_compliance"], r["dependency"]
    over = r["overturned"]
    table = Table(title=f"Platform power report ({c})", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("note", style="dim")
    rows = [
        ("workers / requesters", f"{r['workers']:,} / {r['requesters']:,}", ""),
        ("effective hourly wage, median", per_hour(wage["median"], c),
         f"p10 {per_hour(wage['p10'], c)}, p90 {per_hour(wage['p90'], c)}"),
        ("pooled (all pay / all work time)", per_hour(wage["pooled"], c), ""),
        ("workers below the floor", pct(r["share_below_floor"]),
         f"floor {per_hour(r['wage_floor_per_hour'], c)}"),
        ("work time unpaid", pct(r["unpaid_work_ratio"]),
         f"{pct(r['pending_work_ratio'])} still awaiting review"),
        ("rejection rate", pct(rej["platform"]),
         f"{len(r['rejection_outliers'])} outlier requester(s)"),
        ("rejections overturned", f"{over['count']:,}",
         f"{pct(over['share'])} of rejections, {over['disputed']:,} disputed"),
        ("time to pay, p50 / p95", f"{duration(ttp['p50'])} / {duration(ttp['p95'])}",
         f"submission to approval, {ttp['approvals']:,} approvals"),
        ("HHI of requester spend", number(r["hhi"]), "0..10,000; above 2,500 is concentrated"),
        ("dependency on top requester", pct(dep["median"], 0), f"p90 {pct(dep['p90'], 0)}"),
        ("Gini of worker earnings", number(r["gini"], 3), ""),
        ("take rate", pct(r["take_rate"]), f"fees / gross spend; {pct(r['fee_on_pay'])} of pay"),
        ("posted below the floor", pct(wfc["share_below"]),
         f"{wfc['below_floor']:,} of {wfc['posted']:,} tasks"),
        ("gross spend / fees", money(r["totals"]["gross_spend"], c),
         money(r["totals"]["fees"], c)),
    ]  # fmt: skip
    for row in rows:
        table.add_row(*row)
    return table


def _requesters(r: dict[str, Any]) -> Table:
    c, flagged = r["currency"], {o["requester"] for o in r["rejection_outliers"]}
    table = Table(title="Biggest requesters (red: rejection outlier)", title_justify="left")
    for name in ("requester", "spend", "share", "reviews", "rejection rate", "overturned"):
        table.add_column(name, justify="left" if name == "requester" else "right")
    for q in r["top_requesters"]:
        table.add_row(q["requester"], money(q["spend"], c), pct(q["spend_share"]),
                      f"{q['reviewed']:,}", pct(q["rejection_rate"]), str(q["overturned"]),
                      style="red" if q["requester"] in flagged else None)  # fmt: skip
    return table


def _fate(r: dict[str, Any]) -> Table:
    """Work time by fate, from the replay (present when the log was replayed)."""
    table = Table(title="Work time by fate (claims ended in the window, followed to its end)",
                  title_justify="left")  # fmt: skip
    table.add_column("fate")
    table.add_column("work time", justify="right")
    table.add_column("share", justify="right")
    for row in r["unpaid_by_cause"]:
        table.add_row(row["cause"], duration(row["ms"] // 1000), pct(row["share_of_work"]))
    return table


def render_tables(r: dict[str, Any]) -> Group:
    parts = [_figures(r), _requesters(r)]
    if "provenance" in r:
        p = r["provenance"]
        ends = ", ".join(f"{k}: {v:,}" for k, v in p["end_offsets"].items()) or "none"
        parts += [_fate(r), Text(f"{p['source']}: {p['events']:,} events, end offsets {ends}",
                                 style="dim")]  # fmt: skip
    return Group(*parts)
