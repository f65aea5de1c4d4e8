"""The rejection-outlier alert and the power report flag the same requesters.

rules_test.yml feeds the alert (`promtool test rules`, tests/unit/test_prometheus_rules.py)
series made of the demo's figures and of the rule's edge cases, and lists who must fire.
Here the report's own rule (consumers/power/scorecard.rejection_outlier, what
figures.summarize flags with) runs on those very series: it must flag exactly the
requesters the alert is expected to fire for. Together: same input, same verdict.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from consumers.power.scorecard import MIN_REVIEWS, OUTLIER_Z, rejection_outlier

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
ALERT = "PieceworkRequesterRejectionOutlier"
SERIES = re.compile(r"(\w+)\{(.*)\}")


def outlier_tests() -> list[dict]:
    tests = yaml.safe_load((PROMETHEUS / "rules_test.yml").read_text())["tests"]
    return [t for t in tests
            if any(c["alertname"] == ALERT for c in t.get("alert_rule_test", []))]  # fmt: skip


def figures(test: dict) -> dict[str, dict]:
    """instance -> platform totals and per-requester counts, from the constant series."""
    found: dict[str, dict] = defaultdict(lambda: {"requesters": defaultdict(dict)})
    for item in test["input_series"]:
        name, body = SERIES.fullmatch(item["series"]).groups()
        labels = dict(re.findall(r'(\w+)="([^"]*)"', body))
        value = int(item["values"].split("x")[0])  # "2348x60": constant
        where = found[labels["instance"]]
        if name.startswith("piecework_requester_"):
            where["requesters"][labels["requester"]][name] = value
        else:
            where[name] = value
    return found


@pytest.mark.parametrize("test", outlier_tests(), ids=lambda t: t["name"])
def test_the_alert_fires_for_exactly_whom_the_report_flags(test: dict) -> None:
    flagged = set()
    for instance, f in figures(test).items():
        for requester, counts in f["requesters"].items():
            if requester == "other":  # not a requester: the rest, summed
                continue
            judged = rejection_outlier(
                counts["piecework_requester_reviews_total"],
                counts["piecework_requester_rejections_total"],
                f["piecework_reviews_total"], f["piecework_rejections_total"])  # fmt: skip
            if judged is not None and judged[0]:
                flagged.add((instance, requester))
    checks = [c for c in test["alert_rule_test"] if c["alertname"] == ALERT]
    firing = max(checks, key=lambda c: len(c["exp_alerts"]))
    expected = {(a["exp_labels"]["instance"], a["exp_labels"]["requester"])
                for a in firing["exp_alerts"]}  # fmt: skip
    assert flagged == expected


def test_the_demo_figures_are_the_issues_and_the_old_rule_missed_them() -> None:
    (demo,) = [t for t in outlier_tests() if "demo" in t["name"]]
    f = figures(demo)["a"]
    platform = f["piecework_rejections_total"] / f["piecework_reviews_total"]
    r01 = f["requesters"]["r01"]
    rate = r01["piecework_requester_rejections_total"] / r01["piecework_requester_reviews_total"]
    assert (round(platform, 3), round(rate, 3)) == (0.115, 0.269)
    assert not (rate > 0.2 and rate > 3 * platform)  # the rule the alert used before


def test_the_recording_rules_spell_the_reports_constants() -> None:
    text = (PROMETHEUS / "recording.yml").read_text() + (PROMETHEUS / "rules.yml").read_text()
    assert f"+ {OUTLIER_Z:g} * sqrt(" in text
    assert f"piecework_requester_reviews_total >= {MIN_REVIEWS}" in text
