"""`piecework serve` on the real Kafka and Redis: each role logs to its own file in one
format, and a role that dies is restarted with the wait said on serve's terminal."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

import redis

from testkit.stack_processes import (
    OWNER_KEY,
    PATIENCE_S,
    _claim_db,
    _drop_topics,
    _with_db,
    free_port,
)

REPO = Path(__file__).resolve().parents[2]
DBS = (2, 3, 13, 14)
T = TypeVar("T")
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [A-Z]+ (\S+) (\S+) \[[^\]]*\] ")


def wait_for(what: str, check: Callable[[], T], timeout: float = PATIENCE_S) -> T:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(0.3)
    return found


def claim_a_free_db(redis_url: str, tag: str) -> tuple[str, redis.Redis]:
    for number in DBS:
        with suppress(RuntimeError):  # owned by another running test stack
            url = _with_db(redis_url, number)
            return url, _claim_db(url, tag)
    raise RuntimeError(f"Redis DBs {DBS} are all owned by other running test stacks")


def healthy(url: str) -> bool:
    with suppress(OSError), urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
        return answer.status == 200
    return False


def test_serve_logs_per_role_and_restarts_a_killed_role_with_backoff(
        kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> None:  # fmt: skip
    tag = uuid.uuid4().hex[:8]
    prefix, port = f"t.serve.{tag}", free_port()
    redis_db, db = claim_a_free_db(redis_url, tag)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIECEWORK_")}
    env |= {"PIECEWORK_KAFKA": kafka_bootstrap, "PIECEWORK_REDIS": redis_db,
            "PIECEWORK_TOPIC_PREFIX": prefix, "PIECEWORK_PARTITIONS": "2",
            "PIECEWORK_HTTP_PORT": str(port), "PIECEWORK_METRICS_PORT": "off",
            "PIECEWORK_OPERATOR_TOKEN": f"op-{tag}", "PIECEWORK_DATA_DIR": str(tmp_path)}
    terminal = tmp_path / "serve.out"
    with terminal.open("wb") as out:
        serve = subprocess.Popen([sys.executable, "-m", "deploy.cli", "serve"], env=env,
                                 cwd=REPO, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for("healthy API", lambda: serve.poll() is None and healthy(f"http://127.0.0.1:{port}"))
        said = terminal.read_text()
        pids = dict(re.findall(r"(\w+-\d+):(\d+)", said.split("serving on", 1)[1]))
        assert set(pids) == {"processor-0", "views-0", "api-0", "timers-0", "webhooks-0"}
        logs = tmp_path / "logs"
        for role in ("processor", "views", "api", "timers", "webhooks"):
            lines = wait_for(f"{role}.log", lambda r=role: (logs / f"{r}.log").exists() and
                             (logs / f"{r}.log").read_text().splitlines())  # fmt: skip
            match = LINE.match(lines[0])
            assert match and match.group(1) == f"{role}-0", lines[0]

        os.kill(int(pids["timers-0"]), signal.SIGKILL)
        restarted = wait_for("restart", lambda: re.search(
            r"timers-0 restarted \(pid (\d+)\)", terminal.read_text()))  # fmt: skip
        text = terminal.read_text()
        assert re.search(r"timers-0 killed by SIGKILL after [\d.]+ s; restarting in 0\.5 s "
                         r"\(1 in a row\)", text), text  # fmt: skip
        assert int(restarted.group(1)) != int(pids["timers-0"])
        assert "Traceback" not in text and "aiohttp.access" not in text
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
        _drop_topics(kafka_bootstrap, prefix)
        db.delete(OWNER_KEY)
        db.close()
    assert serve.returncode == 0
