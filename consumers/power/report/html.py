"""A self-contained HTML page: key figures, four plots (PNG as base64) and plain captions."""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from consumers.power.report import plots
from consumers.power.report.fmt import duration, money, number, pct, per_hour
from consumers.power.snapshot import PowerData

CSS = """
body { font: 15px/1.5 system-ui, sans-serif; color: #2c3e50; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; }
h1 { margin-bottom: 0; } .sub { color: #7f8c8d; margin-top: .2rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(13rem, 1fr)); gap: .8rem; }
.card { border: 1px solid #dfe6e9; border-radius: 8px; padding: .6rem .8rem; }
.card b { display: block; font-size: 1.4rem; } .card span { color: #7f8c8d; font-size: .85rem; }
figure { margin: 2rem 0; } img { max-width: 100%; }
figcaption { background: #f7f9fa; border-left: 4px solid #1b9e77; padding: .5rem .8rem; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: right; padding: .25rem .5rem; border-bottom: 1px solid #eee; }
th:first-child, td:first-child { text-align: left; } tr.flag td { color: #c0392b; }
.note { color: #7f8c8d; font-size: .85rem; }
"""
REFERENCES = (
    "For scale, not as targets: Hara et al. (CHI 2018) found a median of about $2/h on "
    "Mechanical Turk, with 4 % of workers above $7.25/h; the ILO's 2018 survey found a mean "
    "of $3.31/h once unpaid time is counted; Toxtli et al. (CSCW 2021) found 33 % of working "
    "time unpaid; MTurk charges 20 % of the reward (40 % for tasks of ten or more assignments)."
)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _card(value: str, label: str) -> str:
    return f'<div class="card"><b>{escape(value)}</b><span>{escape(label)}</span></div>'


def _figure(png: bytes, title: str, caption: str) -> str:
    caption = f"<figcaption><b>What this shows.</b> {escape(caption)}</figcaption>"
    return f"<figure><h2>{escape(title)}</h2>{_img(png, title)}{caption}</figure>"


def _top_decile_share(earnings: list[int]) -> float | None:
    total = sum(earnings)
    if not total:
        return None
    top = sorted(earnings, reverse=True)[: -(-len(earnings) // 10)]
    return sum(top) / total


def cards(r: dict[str, Any]) -> list[tuple[str, str]]:
    """(value, label) of the headline figures, shared with the terminal table."""
    c, wage = r["currency"], r["effective_hourly_wage"]
    floor = per_hour(r["wage_floor_per_hour"], c)
    return [
        (per_hour(wage["median"], c), "median effective hourly wage"),
        (pct(r["share_below_floor"]), f"of workers below the floor ({floor})"),
        (pct(r["unpaid_work_ratio"]), "of work time unpaid"),
        (pct(r["rejection_rate"]["platform"]), "of reviewed work rejected"),
        (duration(r["time_to_pay_seconds"]["p50"]), "median wait for approval"),
        (number(r["hhi"]), "HHI of requester spend (0-10,000)"),
        (number(r["gini"], 2), "Gini of worker earnings"),
        (pct(r["take_rate"]), "take rate (fees / gross spend)"),
    ]


def captions(r: dict[str, Any], data: PowerData) -> dict[str, str]:
    c, wage, ttp = r["currency"], r["effective_hourly_wage"], r["time_to_pay_seconds"]
    floor = per_hour(r["wage_floor_per_hour"], c)
    flagged, shown = r["rejection_outliers"], max(len(r["top_requesters"]), 1)
    outliers = ", ".join(o["requester"] for o in flagged[:shown]) or "none"
    if len(flagged) > shown:
        outliers = f"{len(flagged)} requesters, the worst {shown} shown: {outliers}"
    top10 = _top_decile_share([w.paid for w in data.workers])
    return {
        "wage": f"{pct(r['share_below_floor'])} of workers earn less than the floor of {floor} "
        f"once unpaid time is counted. Each bar counts workers by pay divided by all their work "
        f"time, including work that was rejected, given back or timed out "
        f"({pct(r['unpaid_work_ratio'], 0)} of all work time earned nothing). Half the workers "
        f"earn less than {per_hour(wage['median'], c)}; one in ten less than "
        f"{per_hour(wage['p10'], c)}.",
        "rejections": f"The share of reviewed work each requester rejected; the dashed line is "
        f"the platform rate ({pct(r['rejection_rate']['platform'])}). A rejected task is work "
        f"the requester keeps without paying. Red bars are requesters with at least 20 reviews "
        f"who reject more than the rest of the platform by more than chance explains (3 "
        f"standard errors): {outliers}. {r['overturned']['count']} rejections were overturned "
        f"({pct(r['overturned']['share'])} of rejections).",
        "ttp": f"How long workers wait between handing in work and its approval, when the money "
        f"becomes theirs: half are approved within {duration(ttp['p50'])}, 95 % within "
        f"{duration(ttp['p95'])} (over {ttp['approvals']:,} approvals). Work never reviewed is "
        f"approved automatically when its deadline passes.",
        "lorenz": f"Follow the curve: the lowest-earning x % of workers share y % of all pay; "
        f"the straight diagonal is everyone earning the same. The gap is the Gini "
        f"({number(r['gini'], 2)}: 0 is equal pay, 1 is one worker earning everything). "
        f"The top 10 % of workers take {pct(top10, 0)} of pay.",
    }


def _requester_rows(r: dict[str, Any]) -> str:
    c, flagged = r["currency"], {o["requester"] for o in r["rejection_outliers"]}
    rows = [
        f'<tr class="{"flag" if q["requester"] in flagged else ""}"><td>{escape(q["requester"])}'
        f"</td><td>{money(q['spend'], c)}</td><td>{pct(q['spend_share'])}</td>"
        f"<td>{q['reviewed']:,}</td><td>{pct(q['rejection_rate'])}</td><td>{q['overturned']}</td>"
        f"<td>{q['below_floor']:,} / {q['posted']:,}</td></tr>"
        for q in r["top_requesters"]
    ]
    names = ("requester", "spend", "share", "reviews", "rejection rate", "overturned",
             "posted below floor")  # fmt: skip
    head = "<tr>" + "".join(f"<th>{n}</th>" for n in names) + "</tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def render_html(r: dict[str, Any], data: PowerData, source: str, generated: str) -> str:
    text = captions(r, data)
    wages = [w.wage for w in data.workers if w.wage is not None]
    ttp = r["time_to_pay_seconds"]
    figures = [
        (plots.wage_histogram(wages, r["wage_floor_per_hour"], r["currency"]),
         "Effective hourly wage against the floor", text["wage"]),
        (plots.rejection_bars(r), "Rejection rate per requester", text["rejections"]),
        (plots.time_to_pay_cdf(data.ttp, ttp["p50"], ttp["p95"]), "Time to pay", text["ttp"]),
        (plots.lorenz_curve([w.paid for w in data.workers], r["gini"]),
         "Who gets the pay: Lorenz curve of earnings", text["lorenz"]),
    ]  # fmt: skip
    wfc = r["wage_floor_compliance"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>piecework power report</title>
<style>{CSS}</style></head><body>
<h1>Platform power report ({escape(r["currency"])})</h1>
<p class="sub">{escape(source)} &middot; {escape(generated)} &middot; {r["workers"]:,} workers,
{r["requesters"]:,} requesters</p>
<div class="cards">{"".join(_card(v, label) for v, label in cards(r))}</div>
{"".join(_figure(*f) for f in figures)}
<h2>Biggest requesters</h2>{_requester_rows(r)}
<p>Platform fees are {pct(r["fee_on_pay"])} of worker pay. At posting, {wfc["below_floor"]:,} of
{wfc["posted"]:,} tasks ({pct(wfc["share_below"])}) promised less than the floor for their
estimated time. Workers' dependency on their top requester: median
{pct(r["dependency"]["median"], 0)}, p90 {pct(r["dependency"]["p90"], 0)} of their pay.</p>
<p class="note">{escape(REFERENCES)} Definitions: docs/METRICS.md.</p>
</body></html>
"""
