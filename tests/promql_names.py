"""Which metric names a PromQL expression reads, and which ones piecework exports.

Enough PromQL to keep dashboards and alert rules honest: a panel or rule naming a metric
no process exports would stay empty (or silent) forever, and nothing else would notice.
"""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric

# Prometheus' own series per target, not exported by piecework but always there.
BUILTIN = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}
KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"})
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_BARE_GROUPING = re.compile(r"\b(?:group_left|group_right)\b")
_IDENT = re.compile(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """Metric names selected by `expr` (functions, labels, keywords and durations left out)."""
    text = _STRINGS.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _BARE_GROUPING.sub(" ", text)
    return {name for name in _IDENT.findall(text) if name.lower() not in KEYWORDS}


def sample_names(family: Metric) -> set[str]:
    return {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}


def exported_names() -> set[str]:
    """Every sample name piecework's processes can expose (runtime.metrics, the power and
    backlog collectors, build info), and every series the recording rules make."""
    from consumers.power.backlog import BacklogCollector
    from consumers.power.collector import PowerCollector
    from consumers.stores.memory_store import MemoryStore
    from runtime import metrics
    from runtime.metrics_roles import role_registry

    families: list[Metric] = []
    for obj in vars(metrics).values():
        if isinstance(obj, MetricWrapperBase):
            families.extend(obj.describe())
    families.extend(PowerCollector(MemoryStore(), floors={}, auto_approve_seconds=0).describe())
    families.extend(BacklogCollector(MemoryStore(), now_ms=lambda: 0).describe())
    families.extend(f for f in role_registry("api").collect() if f.name == "piecework_build")
    names = set(BUILTIN) | recorded_names()
    for family in families:
        names |= sample_names(family)
    return names


def recorded_names() -> set[str]:
    """The series deploy/prometheus/recording.yml records."""
    import yaml

    path = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "recording.yml"
    groups = yaml.safe_load(path.read_text())["groups"]
    return {rule["record"] for group in groups for rule in group["rules"]}
