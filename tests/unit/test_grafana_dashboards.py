"""The provisioned dashboards load in Grafana and chart only metrics piecework exports.

No Grafana here (Debian has none), so this checks what provisioning needs: valid JSON, a
uid and title, panels bound to the provisioned data source, a provider pointing at them;
and that every query names a metric some process exports (a typo would chart nothing).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.grafana import build
from tests.promql_names import exported_names, metric_names

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
MOUNT = "/etc/grafana/provisioning"  # where docker-compose mounts deploy/grafana
DASHBOARDS = sorted((GRAFANA / "dashboards").rglob("*.json"))
LABEL_VALUES = re.compile(r"label_values\(\s*(.*?)\s*,\s*\w+\s*\)")


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def datasource_uids() -> set[str]:
    uids = set()
    for path in (GRAFANA / "datasources").glob("*.yml"):
        uids |= {ds["uid"] for ds in yaml.safe_load(path.read_text())["datasources"]}
    return uids


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and query variable."""
    found = [
        (f"panel {panel['title']!r}", target["expr"])
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            match = LABEL_VALUES.fullmatch(query.strip())
            found.append((f"variable {var['name']!r}", match.group(1) if match else query))
    return found


def test_the_two_dashboards_are_provisioned_from_the_provider_path() -> None:
    titles = {load(path)["title"] for path in DASHBOARDS}
    assert titles == {"piecework operations", "piecework power"}
    providers = yaml.safe_load((GRAFANA / "dashboards" / "piecework.yml").read_text())
    (provider,) = providers["providers"]
    local = GRAFANA / Path(provider["options"]["path"]).relative_to(MOUNT)
    assert sorted(local.glob("*.json")) == DASHBOARDS
    uids = [load(path)["uid"] for path in DASHBOARDS]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_is_valid_for_provisioning(path: Path) -> None:
    dashboard = load(path)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dashboard["uid"])
    assert dashboard["title"] and dashboard.get("id") is None  # ids belong to Grafana's db
    assert dashboard["panels"]
    # No hard-coded data source: a `datasource` variable of Prometheus type, used everywhere.
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == (
        "datasource", "prometheus")
    assert datasource_uids(), "a provisioned data source for the variable to pick"
    uids = {"${datasource}"}
    for var in variables.values():
        if var["type"] == "query":
            assert var["datasource"]["uid"] in uids, var["name"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(set(ids)) == len(ids), "panel ids must be unique"
    for panel in dashboard["panels"]:
        where = f"{path.name}: {panel.get('title')!r}"
        assert panel["title"] and panel["type"] and set(panel["gridPos"]) >= {"x", "y", "w", "h"}
        assert panel["datasource"]["uid"] in uids, where
        assert panel["targets"], where
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids), where
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"])["uid"] in uids, where


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_query_names_only_exported_metrics(path: Path) -> None:
    exported = exported_names()
    for where, expr in queries(load(path)):
        names = metric_names(expr)
        assert names, f"{path.name} {where}: no metric in {expr!r}"
        assert names <= exported, f"{path.name} {where}: not exported: {names - exported}"


def test_the_dead_letter_panel_counts_series_born_in_the_window() -> None:
    """A labelled counter is born at 1, which increase() cannot see: the panel adds the
    series absent 5 minutes ago, as the PieceworkDeadLetters alert does."""
    operations = load(GRAFANA / "dashboards" / "piecework" / "operations.json")
    (panel,) = [p for p in operations["panels"] if p["title"].startswith("Dead letters")]
    (expr,) = [t["expr"] for t in panel["targets"]]
    assert "increase(piecework_dead_letters_total[5m])" in expr
    assert "piecework_dead_letters_total unless piecework_dead_letters_total offset 5m" in expr


@pytest.mark.parametrize("name", sorted(build.DASHBOARDS))
def test_the_committed_json_is_what_the_code_produces(name: str) -> None:
    committed = (GRAFANA / "dashboards" / "piecework" / name).read_text(encoding="utf-8")
    assert committed == build.text(build.DASHBOARDS[name]), (
        f"{name} differs from deploy/grafana/build.py: run .venv/bin/python -m"
        " deploy.grafana.build")
