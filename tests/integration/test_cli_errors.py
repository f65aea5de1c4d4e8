"""A user's mistake ends `piecework` with one line saying what to do and a non-zero exit
status, never a traceback (unless --debug asks for it). Run as the user runs it: in a
subprocess, with the real Kafka and Redis where a case needs one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from testkit.stack_processes import free_port

REPO = Path(__file__).resolve().parents[2]


def piecework(*args: str, timeout: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PIECEWORK_")}
    return subprocess.run([sys.executable, "-m", "deploy.cli", *args], cwd=REPO,
                          env={**clean, **env}, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def one_line(result: subprocess.CompletedProcess[str], command: str) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"piecework {command}"), lines[0]
    return lines[0]


def test_a_bad_setting_is_named_with_its_value() -> None:
    result = piecework("ledger", PIECEWORK_PARTITIONS="abc")
    assert result.returncode == 2
    assert result.stderr == "piecework: PIECEWORK_PARTITIONS must be an integer >= 1, got 'abc'\n"


def test_a_server_that_is_not_running_is_told_with_the_url_and_a_hint() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for argv in (["ledger"], ["deposit", "5", "EUR"], ["results", "b1-0"], ["batches"],
                 ["review", str(REPO / "tests" / "__init__.py")]):  # fmt: skip
        result = piecework(*argv, "--url", url, "--token", "t")
        if argv[0] == "review":  # not a CSV of reviews: refused before any call
            assert result.returncode == 2 and "header" in one_line(result, "review")
            continue
        line = one_line(result, argv[0])
        assert result.returncode == 1
        assert f"cannot reach the API at {url}" in line and "piecework serve" in line


def test_debug_shows_the_traceback_as_well() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = piecework("ledger", "--url", url, "--token", "t", "--debug")
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("piecework ledger: cannot reach")


def test_post_with_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "tasks.jsonl"
    result = piecework("post", str(missing), "--url", "http://127.0.0.1:9", "--token", "t")
    assert result.returncode == 2
    assert one_line(result, "post") == f"piecework post: {missing}: No such file or directory"


@pytest.mark.parametrize(("content", "said"), [
    ('{"kind": "translation", "reward": 300000}\n', "no 'partition' field"),
    ("[1, 2]\n", "not a JSON object"),
    ("posted,existing\n", "not JSON"),
])  # fmt: skip
def test_audit_of_a_file_that_is_not_an_export(tmp_path: Path, content: str, said: str) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text(content)
    result = piecework("audit", "--events", str(path), "--no-live")
    assert result.returncode == 2
    line = one_line(result, "audit")
    assert line.startswith("piecework audit: line 1: not ") and said in line


def test_serve_with_kafka_down_gives_up_within_a_bounded_wait(tmp_path: Path) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = piecework("serve", PIECEWORK_KAFKA=nobody, PIECEWORK_DATA_DIR=str(tmp_path),
                       PIECEWORK_METRICS_PORT="off", timeout=120)  # fmt: skip
    took = time.monotonic() - started
    assert result.returncode == 1
    line = one_line(result, "serve")
    assert f"no Kafka broker answers at {nobody}" in line and "piecework up" in line
    print(f"serve gave up after {took:.1f} s")


def test_a_bad_option_value_is_a_usage_error() -> None:
    result = piecework("post", "x.jsonl", "--batch-size", "10000000")
    assert result.returncode == 2 and "expected 1-10000, got 10000000" in result.stderr


def test_version() -> None:
    result = piecework("--version")
    assert result.returncode == 0
    assert result.stdout == f"piecework {metadata.version('piecework')}\n"
