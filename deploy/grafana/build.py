"""piecework's Grafana dashboards as code: `python -m deploy.grafana.build` writes them.

Each panel is a title, a unit and its PromQL with legends; layout, data source and the
panel boilerplate are made here, the same for all. tests/unit/test_grafana_dashboards.py
fails when the committed JSON under dashboards/piecework/ is not what this produces, so
the JSON is never edited by hand. The data source is the `datasource` variable, never a
hard-coded uid. Plain dicts rather than grafana-foundation-sdk: the schema used here is a
handful of keys, and no dependency is needed to build or test it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards" / "piecework"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    targets: tuple[tuple[str, str], ...]  # (PromQL, legend)
    description: str | None = None
    decimals: int | None = None
    width: int = 12


def quantiles(histogram: str, by: str = "le") -> tuple[tuple[str, str], ...]:
    return tuple((f"histogram_quantile({q}, sum by ({by}) (rate({histogram}_bucket[{RATE}])))",
                  f"p{round(q * 100)}") for q in (0.5, 0.99))  # fmt: skip


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[dict[str, Any], ...] = field(default=())


OPERATIONS = Dashboard(
    "piecework-operations", "piecework operations",
    "Write side, API, views, timer, money owed and consumer lag of every piecework process.",
    (
        Panel("Commands by outcome", "ops", ((
            f"sum by (outcome) (rate(piecework_commands_total[{RATE}]))", "{{outcome}}"),)),
        Panel("Refusals by code", "ops", ((
            f"sum by (code) (rate(piecework_refusals_total[{RATE}]))", "{{code}}"),)),
        Panel("Transaction duration (processor)", "s",
              quantiles("piecework_transaction_seconds"),
              "One Kafka transaction per polled batch: decide, produce, commit."),
        Panel("Command latency (API: send to reply)", "s",
              quantiles("piecework_command_latency_seconds")),
        Panel("Consumer lag", "short", (("max by (group) (piecework_consumer_lag)", "{{group}}"),),
              "Committed offsets vs end offsets, summed over partitions (polled by the timer)."),
        Panel("Dead letters (per 5 min)", "short", ((
            "sum by (consumer, code) (increase(piecework_dead_letters_total[5m]))"
            " or sum by (consumer, code) (piecework_dead_letters_total"
            " unless piecework_dead_letters_total offset 5m)", "{{consumer}} {{code}}"),),
              "Records sent to the dead-letter topic in the last 5 minutes. A labelled counter"
              " is born at 1, which increase() cannot see: a series that did not exist 5"
              " minutes ago counts as new dead letters (as the PieceworkDeadLetters alert)."),
        Panel("View events folded", "ops", (
            (f"sum(rate(piecework_view_events_total[{RATE}]))", "events/s"),
            (f"sum(rate(piecework_events_written_total[{RATE}]))", "written by the processor"))),
        Panel("View batch apply duration", "s", quantiles("piecework_view_apply_seconds")),
        Panel("Timer commands by kind", "ops", ((
            f"sum by (kind) (rate(piecework_timer_fired_total[{RATE}]))", "{{kind}}"),)),
        Panel("HTTP requests by status", "reqps", ((
            f"sum by (status) (rate(piecework_http_requests_total[{RATE}]))", "{{status}}"),)),
        Panel("HTTP p99 duration by route", "s", ((
            "histogram_quantile(0.99, sum by (le, route, method) (rate("
            f"piecework_http_request_duration_seconds_bucket[{RATE}])))",
            "{{method}} {{route}}"),), "Per route template, every API instance together."),
        Panel("HTTP 5xx and 429 ratios", "percentunit", (
            ("piecework:http_5xx:ratio_5m", "5xx {{instance}}"),
            ("piecework:http_429:ratio_5m", "429 {{instance}}")),
              "Recording rules (deploy/prometheus/recording.yml)."),
        Panel("Money owed to workers", "none", ((
            "sum by (currency, stage) (piecework_money_owed)", "{{currency}} {{stage}}"),),
              "Currency units. uncredited: approved, not in a wallet yet (seconds, normally);"
              " unpaid: in wallets, awaiting the payout run.", decimals=2),
        Panel("Reviews past their auto-approval deadline", "short", (
            ("max(piecework_reviews_past_deadline)", "overdue"),),
              "Pending submissions the timer should have approved by now."),
        Panel("Processes up", "short", (('up{job=~"piecework-.*"}', "{{job}} {{instance}}"),)),
        Panel("Command partitions owned", "short", ((
            'sum by (instance) (piecework_processor_partitions{job="piecework-processor"})',
            "{{instance}}"),)),
    ),
)  # fmt: skip

CURRENCY = '{currency="$currency"}'
POWER = Dashboard(
    "piecework-power", "piecework power",
    "What micro-work platforms do not publish: effective wages, unpaid work, rejections,"
    " delays and concentration (computed from the views).",
    (
        Panel("Effective hourly wage vs floor ($currency per hour)", "none", (
            (f"piecework_effective_hourly_wage{CURRENCY}", "quantile {{quantile}} (all time)"),
            (f"piecework_wage_floor{CURRENCY}", "floor"),
            (f"piecework:effective_hourly_wage:pooled_1h{CURRENCY}", "pooled, last hour")),
              "Pay (rewards + bonuses) over ALL work time, paid or not: quantiles across"
              " workers over all time, and all pay over all work of the last hour.",
              decimals=2, width=24),
        Panel("Workers below the wage floor", "percentunit", ((
            f"piecework_workers_below_wage_floor_ratio{CURRENCY}", "share of workers"),)),
        Panel("Unpaid work", "percentunit", (
            ("piecework:unpaid_work_ratio:ratio_1h", "last hour"),
            ("piecework:unpaid_work_ratio:ratio", "all time")),
              "Work time of claims that earned nothing (rejected, released, expired)."),
        Panel("Rejection rate: platform and top requesters", "percentunit", (
            ("piecework:rejection_rate:ratio_1h", "platform, last hour"),
            ("piecework:rejection_rate:ratio", "platform, all time"),
            ('piecework:requester_rejection_rate:ratio{requester!="other"}',
             "{{requester}}, all time"))),
        Panel("Requesters flagged as rejection outliers", "short", ((
            "piecework_requester_rejection_outliers", "flagged"),)),
        Panel("Rejections overturned", "percentunit", ((
            "piecework_overturned_rejections_ratio", "overturned"),)),
        Panel("Time to pay (submission to approval)", "s", (
            ("piecework:time_to_pay_seconds:p50_1h", "p50, last hour"),
            ("piecework:time_to_pay_seconds:p95_1h", "p95, last hour"),
            ("max(piecework_auto_approve_seconds)", "auto-approval delay"))),
        Panel("Requester spend concentration (HHI)", "none", ((
            f"piecework_requester_spend_hhi{CURRENCY}", "HHI"),), decimals=0),
        Panel("Worker earnings inequality (Gini)", "none", ((
            f"piecework_worker_earnings_gini{CURRENCY}", "Gini"),), decimals=3),
        Panel("Workers' dependency on their top requester", "percentunit", ((
            f"piecework_worker_dependency_ratio{CURRENCY}", "q{{quantile}}"),)),
        Panel("Take rate", "percentunit", ((
            f"piecework_take_rate{CURRENCY}", "fees / gross spend"),)),
        Panel("Tasks posted below the wage floor", "percentunit", ((
            "piecework_tasks_below_wage_floor_ratio", "below floor"),)),
    ),
    variables=({
        "name": "currency", "label": "currency", "type": "query", "datasource": DATASOURCE,
        "definition": "label_values(piecework_wage_floor, currency)",
        "query": {"query": "label_values(piecework_wage_floor, currency)", "refId": "currency"},
        "refresh": 1, "includeAll": False, "multi": False, "sort": 1,
        "current": {"text": "EUR", "value": "EUR"},
    },),
)  # fmt: skip
DASHBOARDS = {"operations.json": OPERATIONS, "power.json": POWER}


def _panels(panels: tuple[Panel, ...]) -> list[dict[str, Any]]:
    built, x, y = [], 0, 0
    for number, p in enumerate(panels, 1):
        if x + p.width > 24:
            x, y = 0, y + 8
        defaults: dict[str, Any] = {"unit": p.unit}
        if p.decimals is not None:
            defaults["decimals"] = p.decimals
        panel = {
            "id": number, "type": "timeseries", "title": p.title, "datasource": DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": p.width, "h": 8},
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom",
                                   "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}},
            "targets": [{"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr,
                         "legendFormat": legend} for i, (expr, legend) in enumerate(p.targets)],
        }  # fmt: skip
        if p.description:
            panel["description"] = p.description
        built.append(panel)
        x += p.width
    return built


def render(d: Dashboard) -> dict[str, Any]:
    """The dashboard's JSON model, as provisioning reads it."""
    source = {"name": "datasource", "label": "data source", "type": "datasource",
              "query": "prometheus", "refresh": 1, "hide": 0, "current": {}}  # fmt: skip
    return {
        "id": None, "uid": d.uid, "title": d.title, "description": d.description,
        "tags": ["piecework"], "timezone": "browser", "schemaVersion": 39, "version": 1,
        "editable": False, "graphTooltip": 1, "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"}, "annotations": {"list": []},
        "templating": {"list": [source, *d.variables]},
        "panels": _panels(d.panels),
    }  # fmt: skip


def text(d: Dashboard) -> str:
    return json.dumps(render(d), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    for name, dashboard in DASHBOARDS.items():
        (OUT / name).write_text(text(dashboard), encoding="utf-8")
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
