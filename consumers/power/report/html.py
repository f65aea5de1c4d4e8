"""A self-contained HTML page a researcher can cite: provenance, key figures, inline SVG
charts with captions, and the data behind each chart as JSON (in the page) and as CSV
(a download link), so every figure can be checked and redrawn."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any

from consumers.power.report.charts import Chart, build
from consumers.power.report.fmt import duration, money, number, pct, per_hour
from consumers.power.scorecard import wilson_interval
from consumers.power.snapshot import PowerData

CSS = """
body { font: 15px/1.5 system-ui, sans-serif; color: #2c3e50; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; }
h1 { margin-bottom: 0; } .sub { color: #7f8c8d; margin-top: .2rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(13rem, 1fr)); gap: .8rem; }
.card { border: 1px solid #dfe6e9; border-radius: 8px; padding: .6rem .8rem; }
.card b { display: block; font-size: 1.4rem; } .card span { color: #7f8c8d; font-size: .85rem; }
figure { margin: 2rem 0; } svg { max-width: 100%; height: auto; }
figcaption { background: #f7f9fa; border-left: 4px solid #1b9e77; padding: .5rem .8rem; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: right; padding: .25rem .5rem; border-bottom: 1px solid #eee; }
th:first-child, td:first-child { text-align: left; } tr.flag td { color: #c0392b; }
.note, .data { color: #7f8c8d; font-size: .85rem; }
table.prov td { text-align: left; }
"""
REFERENCES = (
    "For scale, not as targets: Hara et al. (CHI 2018) found a median of about $2/h on "
    "Mechanical Turk, with 4 % of workers above $7.25/h; the ILO's 2018 survey found a mean "
    "of $3.31/h once unpaid time is counted; Toxtli et al. (CSCW 2021) found 33 % of working "
    "time unpaid; MTurk charges 20 % of the reward (40 % for tasks of ten or more assignments)."
)


def _card(value: str, label: str) -> str:
    return f'<div class="card"><b>{escape(value)}</b><span>{escape(label)}</span></div>'


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


def json_block(element_id: str, value: Any) -> str:
    """A JSON data block; `<` escaped so no value can close the script element."""
    text = json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")
    return f'<script type="application/json" id="{escape(element_id)}">{text}</script>'


def to_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV, columns in the first row's order (empty for no rows)."""
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def csv_link(name: str, rows: list[dict[str, Any]]) -> str:
    data = base64.b64encode(to_csv(rows).encode("utf-8")).decode("ascii")
    return (f'<a download="{escape(name)}.csv" '
            f'href="data:text/csv;charset=utf-8;base64,{data}">{escape(name)}.csv</a>')  # fmt: skip


def _figure(chart: Chart) -> str:
    caption = f"<figcaption><b>What this shows.</b> {escape(chart.caption)}</figcaption>"
    data = (f'<p class="data">Data: {csv_link(chart.name, chart.rows)} (CSV), or the JSON block '
            f'<code>#data-{escape(chart.name)}</code> in this page.</p>')  # fmt: skip
    return (f'<figure id="chart-{escape(chart.name)}"><h2>{escape(chart.title)}</h2>{chart.svg}'
            f"{caption}{data}{json_block('data-' + chart.name, chart.data())}</figure>")


def _table(names: tuple[str, ...], rows: list[tuple[str, list[str]]]) -> str:
    head = "<tr>" + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr>"
    body = "".join(f'<tr class="{cls}">' + "".join(f"<td>{escape(v)}</td>" for v in cells)
                   + "</tr>" for cls, cells in rows)  # fmt: skip
    return f"<table>{head}{body}</table>"


def _interval(rejected: int, reviewed: int) -> str:
    found = wilson_interval(rejected, reviewed)
    return "n/a" if found is None else f"{pct(found[0])} to {pct(found[1])}"


def _requesters(r: dict[str, Any]) -> str:
    c, flagged = r["currency"], {o["requester"] for o in r["rejection_outliers"]}
    rows = [("flag" if q["requester"] in flagged else "",
             [q["requester"], money(q["spend"], c), pct(q["spend_share"]), f"{q['reviewed']:,}",
              pct(q["rejection_rate"]), _interval(q["rejected"], q["reviewed"]),
              str(q["overturned"]), f"{q['below_floor']:,} / {q['posted']:,}"])
            for q in r["top_requesters"]]  # fmt: skip
    return _table(("requester", "spend", "share", "reviews", "rejection rate",
                   "95 % interval", "overturned", "posted below floor"), rows)  # fmt: skip


def _kinds(rows: list[dict[str, Any]], c: str) -> str:
    cells = [("", [k["kind"], per_hour(k["promised_hourly_wage"], c),
                   per_hour(k["realised_hourly_wage"], c), pct(k["realised_share_of_promised"], 0),
                   f"{k['claims']:,}", duration(k["work_ms"] // 1000)])
             for k in rows]  # fmt: skip
    names = ("kind", "promised", "realised", "realised / promised", "claims", "work time")
    name = "promised_vs_realised_by_kind"
    data = json_block(f"data-{name}", {"chart": name, "rows": rows})
    return f'{_table(names, cells)}<p class="data">Data: {csv_link(name, rows)}</p>{data}'



def _instant(ms: int | None) -> str:
    if ms is None:
        return "n/a"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def provenance_rows(p: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(what, value) lines of the provenance table."""
    ends = ", ".join(f"{k}: {v:,}" for k, v in p["end_offsets"].items()) or "none"
    speed = p.get("clock_speed")
    window = (f"{_instant(p['since_ms']) if p['since_ms'] is not None else 'start of the log'} "
              f"to {_instant(p['until_ms']) if p['until_ms'] is not None else 'end of the log'}")
    return [
        ("source", p["source"]),
        ("log positions read (partition: end offset)", ends),
        ("events read", f"{p['events']:,}"),
        ("window asked", window),
        ("events span", f"{_instant(p['first_event_ms'])} to {_instant(p['last_event_ms'])}"),
        ("clock", "not recorded in an export (times are the log's own)" if speed is None
         else f"{'real time' if speed == 1 else f'simulated, {speed:g}x real time'} "
              "(PIECEWORK_CLOCK_SPEED where the topic was read)"),
        ("software", p["software"]),
        ("currency, wage floor", f"{p['currency']}, {per_hour(p['floor'], p['currency'])}"),
        ("generated", p["generated"]),
        ("reproduce", p["command"]),
    ]  # fmt: skip


def render_html(r: dict[str, Any], data: PowerData, history: Mapping[str, Any],
                provenance: Mapping[str, Any]) -> str:  # fmt: skip
    """The page. `history` is consumers.power.report.history.History.to_json(); `provenance`
    its provenance() plus source, software, clock_speed, currency, floor, generated, command."""
    charts = build(r, data, history)
    wfc, c = r["wage_floor_compliance"], r["currency"]
    lines = provenance_rows(provenance)
    prov = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in lines)
    window = dict(lines)["window asked"]
    kinds = history["promised_vs_realised"]["by_kind"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>piecework power report ({escape(c)})</title>
<style>{CSS}</style></head><body>
<h1>Platform power report ({escape(c)})</h1>
<p class="sub">{escape(provenance["source"])} &middot; {escape(window)} &middot;
{r["workers"]:,} workers, {r["requesters"]:,} requesters &middot; generated
{escape(provenance["generated"])} &middot; <a href="#provenance">provenance</a></p>
<div class="cards">{"".join(_card(v, label) for v, label in cards(r))}</div>
{"".join(_figure(chart) for chart in charts)}
<h2>Promised against realised, per task kind</h2>{_kinds(kinds, c)}
<h2>Biggest requesters</h2>{_requesters(r)}
<p>Platform fees are {pct(r["fee_on_pay"])} of worker pay. At posting, {wfc["below_floor"]:,} of
{wfc["posted"]:,} tasks ({pct(wfc["share_below"])}) promised less than the floor for their
estimated time. Workers' dependency on their top requester: median
{pct(r["dependency"]["median"], 0)}, p90 {pct(r["dependency"]["p90"], 0)} of their pay.</p>
<h2 id="provenance">Provenance</h2><table class="prov">{prov}</table>
{json_block("data-provenance", dict(provenance))}
{json_block("data-report", {**r, **history})}
<p class="note">{escape(REFERENCES)} Definitions: docs/METRICS.md.</p>
</body></html>
"""
