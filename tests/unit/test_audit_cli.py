"""`piecework audit --events FILE`: the command line on an export, no broker needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.logfile import export
from audit.source import ListLog
from deploy.cli import main
from schemas import events as ev
from tests.unit.audit_kit import T0, appended, good_log


def exported(tmp_path: Path, log) -> str:
    path = tmp_path / "events.jsonl"
    with path.open("w") as out:
        export(ListLog(log), out)
    return str(path)


def audit_file(capsys, path: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["audit", "--events", path, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_clean_export_exits_0_with_the_json_summary(tmp_path: Path, capsys) -> None:
    code, report = audit_file(capsys, exported(tmp_path, good_log()))
    assert code == 0 and report["ok"] and report["events"] == 19
    assert report["views_match"] is None and report["views_note"] == "auditing a file"


@pytest.mark.parametrize(("speed", "lost"), [("1", 3), ("600", 0)])
def test_the_credit_grace_scales_with_the_clock_speed(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, speed: str, lost: int
) -> None:
    # credits never delivered, and the log goes on 15 minutes of its own time
    log = appended(good_log(deliver=False), ev.FundsDeposited("acme", 1, "EUR"), "later/0",
                   at=T0 + 1_000_000)  # fmt: skip
    monkeypatch.setenv("PIECEWORK_CLOCK_SPEED", speed)
    code, report = audit_file(capsys, exported(tmp_path, log))
    assert len(report["violations"]) == lost and report["pending_credits"] == 3 - lost
    assert code == (1 if lost else 0)


def test_a_tampered_file_exits_1(tmp_path: Path, capsys) -> None:
    path = Path(exported(tmp_path, good_log()))
    lines = path.read_text().replace('"amount":40000', '"amount":60000').splitlines()
    path.write_text("\n".join(lines) + "\n")
    code, report = audit_file(capsys, str(path))
    assert code == 1 and {v["check"] for v in report["violations"]} >= {"wallets", "money"}
