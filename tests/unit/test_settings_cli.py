"""A wrong setting ends `piecework` (and the docker-compose topic step) with one line and
exit code 2, never a traceback; run as the user runs them, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PIECEWORK_")}
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.mark.parametrize("command", [("deploy.cli", "status"), ("deploy.cli", "lag"),
                                     ("deploy.topics",)])  # fmt: skip
def test_a_bad_partition_count_is_one_line_and_exit_2(command: tuple[str, ...]) -> None:
    result = run(*command, PIECEWORK_PARTITIONS="abc")
    assert result.returncode == 2, result.stderr
    assert result.stderr == "piecework: PIECEWORK_PARTITIONS must be an integer >= 1, got 'abc'\n"
    assert result.stdout == ""


def test_help_needs_no_valid_setting() -> None:
    result = run("deploy.cli", "--help", PIECEWORK_PARTITIONS="abc")
    assert result.returncode == 0 and "docs/SETTINGS.md" in result.stdout
