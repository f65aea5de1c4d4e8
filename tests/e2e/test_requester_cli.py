"""A requester's everyday work from the shell, against a real stack: create the actors,
deposit, post a file, review the submissions from a CSV and fetch the results, all with
`piecework` in a subprocess (the worker's side through the Python client). And a wrong
or missing token: one line with the hint, exit 1."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from broker.client import Client
from testkit.stack_processes import PATIENCE_S, Stack, running_stack_on_a_free_db

REPO = Path(__file__).resolve().parents[2]
TASKS = 5
T = TypeVar("T")


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, redis_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:  # fmt: skip
    with running_stack_on_a_free_db(kafka_bootstrap, redis_url,
                                    tmp_path_factory.mktemp("requester-cli"),
                                    dbs=(5, 6, 7)) as running:  # fmt: skip
        yield running


def piecework(stack: Stack, *args: str, token: str | None = None,
              cwd: Path | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIECEWORK_")}
    env["PIECEWORK_URL"] = stack.url
    if token is not None:
        env["PIECEWORK_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "deploy.cli", *args], env=env, cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=PATIENCE_S)  # fmt: skip


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_a_wrong_or_missing_token_is_one_line_with_a_hint(stack: Stack, token: str | None
                                                          ) -> None:  # fmt: skip
    result = piecework(stack, "ledger", token=token)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("piecework ledger: 401 ")
    assert "pass --token or set PIECEWORK_TOKEN" in line


async def work_through(url: str, token: str, count: int) -> None:
    """The worker claims and submits `count` tasks, waiting for them to reach the queue."""
    deadline = time.monotonic() + PATIENCE_S
    done = 0
    async with Client(url, token) as worker:
        while done < count:
            claim = await worker.claim_next()
            if claim is None:
                assert time.monotonic() < deadline, f"only {done} of {count} tasks claimed"
                await asyncio.sleep(0.25)
                continue
            await worker.submit(claim["claim_id"], {"label": f"answer {done}"})
            done += 1


def until(what: str, check: Callable[[], T]) -> T:
    deadline = time.monotonic() + PATIENCE_S
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"no {what} within {PATIENCE_S:.0f} s"
        time.sleep(0.5)


def test_deposit_post_review_and_fetch_results(stack: Stack, tmp_path: Path) -> None:
    op = stack.operator_token
    tag = str(time.time_ns() % 10**9)
    qual = f"q{tag}"
    requester = json.loads(ok(piecework(stack, "actor", f"acme-{tag}", "requester", token=op)))
    worker = json.loads(ok(piecework(stack, "actor", f"ana-{tag}", "worker", "--qualification",
                                     qual, token=op)))  # fmt: skip
    req = requester["token"]
    deposited = json.loads(ok(piecework(stack, "deposit", "50.00", "EUR", "--units", token=req)))
    assert deposited  # the command's outcome, as the API answered it

    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({
        "kind": "translation", "reward": 300_000, "currency": "EUR", "estimated_seconds": 120,
        "qualifications": [qual], "payload": {"text": f"phrase {i}"}}) + "\n"
        for i in range(TASKS)))  # fmt: skip
    posted = json.loads(ok(piecework(stack, "post", str(tasks), "--batch-id", "b", token=req)))
    assert (posted["posted"], posted["refused"]) == (TASKS, 0)

    asyncio.run(work_through(stack.url, worker["token"], TASKS))

    def submitted() -> list[dict[str, Any]]:
        rows = [json.loads(line) for line in ok(piecework(stack, "results", "b-0",
                                                          token=req)).splitlines()]  # fmt: skip
        return rows if len(rows) == TASKS and all(r.get("submission_id") for r in rows) else []

    rows = until("results with every submission", submitted)
    decisions = tmp_path / "decisions.csv"
    with decisions.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["submission_id", "decision", "reason"])
        for n, row in enumerate(rows):
            writer.writerow([row["submission_id"], "reject" if n == 0 else "approve",
                             "too literal" if n == 0 else ""])  # fmt: skip
    reviewed = json.loads(ok(piecework(stack, "review", str(decisions), token=req)))
    assert (reviewed["approved"], reviewed["rejected"], reviewed["refused"]) == (TASKS - 1, 1, 0)

    out_csv = tmp_path / "results.csv"

    def final() -> list[dict[str, str]]:
        ok(piecework(stack, "results", "b-0", "--csv", "-o", str(out_csv), token=req))
        found = list(csv.DictReader(io.StringIO(out_csv.read_text())))
        statuses = sorted(r.get("status", "") for r in found)
        return found if statuses == ["approved"] * (TASKS - 1) + ["rejected"] else []

    assert len(until("reviewed results", final)) == TASKS
