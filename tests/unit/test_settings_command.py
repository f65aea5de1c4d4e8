"""`piecework settings` shows what this shell sets, never a token; `--doc` is the page."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from runtime.settings_doc import page

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PIECEWORK_")}
    return subprocess.run([sys.executable, "-m", "deploy.cli", "settings", *args], cwd=REPO,
                          env={**clean, "COLUMNS": "250", **env}, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_values_are_shown_and_tokens_hidden() -> None:
    result = run(PIECEWORK_PARTITIONS="3", PIECEWORK_TOKEN="s3cr3t-token",
                 PIECEWORK_OPERATOR_TOKEN="0p-s3cr3t")  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in result.stdout.splitlines() if line.startswith("│ PIECEWORK_")}  # fmt: skip
    assert rows["PIECEWORK_PARTITIONS"] == "3"
    assert rows["PIECEWORK_TOKEN"] == rows["PIECEWORK_OPERATOR_TOKEN"] == "(set, hidden)"
    assert rows["PIECEWORK_URL"] == "unset"
    assert "s3cr3t" not in result.stdout


def test_doc_prints_the_committed_page() -> None:
    result = run("--doc")
    assert result.returncode == 0 and result.stdout == page().read_text()


def test_a_bad_value_is_refused_before_the_table() -> None:
    result = run(PIECEWORK_LOG_FORMAT="xml")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "piecework: PIECEWORK_LOG_FORMAT must be one of text, json, got 'xml'\n"
