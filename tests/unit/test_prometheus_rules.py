"""The alert rules parse, fire on the series they are for and stay silent on the others.

Needs Debian's `promtool` (package prometheus, installed by .ci/run): missing, it fails.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.promql_names import exported_names, metric_names

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool not found: apt-get install prometheus (.ci/run installs it)"
    return subprocess.run(
        [binary, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120
    )


def rules() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


@pytest.mark.parametrize(
    "args",
    [("check", "rules", "rules.yml"), ("check", "rules", "recording.yml"),
     ("check", "config", "prometheus.yml"), ("check", "config", "prometheus-compose.yml")],
    ids=["rules", "recording", "config", "compose-config"],
)
def test_promtool_accepts_the_files(args: tuple[str, ...]) -> None:
    done = promtool(*args)
    assert done.returncode == 0, done.stdout + done.stderr


def test_alerts_fire_and_stay_silent_as_specified() -> None:
    done = promtool("test", "rules", "rules_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_is_tested_firing_and_silent() -> None:
    tests = yaml.safe_load((PROMETHEUS_DIR / "rules_test.yml").read_text())["tests"]
    checks = [check for test in tests for check in test.get("alert_rule_test", [])]
    for rule in rules():
        mine = [check for check in checks if check["alertname"] == rule["alert"]]
        assert any(check["exp_alerts"] for check in mine), f"{rule['alert']} never fires"
        assert any(not check["exp_alerts"] for check in mine), f"{rule['alert']} never silent"


def test_rules_read_only_metrics_piecework_exports() -> None:
    exported = exported_names()
    recording = yaml.safe_load((PROMETHEUS_DIR / "recording.yml").read_text())["groups"]
    for rule in rules() + [rule for group in recording for rule in group["rules"]]:
        unknown = metric_names(rule["expr"]) - exported
        name = rule.get("alert") or rule["record"]
        assert not unknown, f"{name} reads metrics nobody exports: {unknown}"
