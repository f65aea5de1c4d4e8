"""docs/OBSERVABILITY.md names every metric a process exports and every alert rule."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.promql_names import BUILTIN, exported_names

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "OBSERVABILITY.md").read_text()
SERIES_SUFFIXES = ("_bucket", "_count", "_sum", "_created")


def names_to_document() -> set[str]:
    """Counters and gauges by their sample name, histograms by their base name."""
    names = exported_names() - BUILTIN
    histograms = {n.removesuffix("_bucket") for n in names if n.endswith("_bucket")}
    return {n for n in names if not n.endswith(SERIES_SUFFIXES)} | histograms


def test_every_exported_metric_is_documented() -> None:
    missing = sorted(n for n in names_to_document() if n not in DOC)
    assert not missing, f"not in docs/OBSERVABILITY.md: {missing}"


def test_every_alert_is_documented() -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "rules.yml").read_text())
    alerts = {r["alert"] for group in rules["groups"] for r in group["rules"]}
    assert not sorted(a for a in alerts if a not in DOC)
