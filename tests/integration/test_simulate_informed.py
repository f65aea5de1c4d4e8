"""Informed simulated workers against a real stack (processor, API, views and timers as
processes, on the real Kafka and Redis): they claim through task groups, and once a
requester's scorecard flags it as a rejection outlier, none of them claims its work.

The test watches the scorecards itself, through the API, while the simulation runs: the
moment it first sees a requester flagged for good is the reference. An informed worker
may use a listing for up to refresh_wall_s before reading it again, so no informed claim
may be sent later than that after the flag. No timed assertions otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid

from broker.client import ApiError, Client
from deploy.simulation.informed import refresh_wall_s
from testkit.stack_processes import running_stack_on_a_free_db

SPEED = 600  # ten marketplace minutes per second: exploitative reviews within the run
DURATION_S = 60  # an exploitative requester needs 20 reviews (~3 h each) to be judged
CANDIDATE_DBS = (9, 12, 10)  # 9: no other test module names it
REQUESTERS, WORKERS = 6, 40
CLOCK_SLACK_S = 1.0  # two processes' time.time() on one machine, and rounding


async def _watch_flags(url: str, token: str, requesters: list[str], run: subprocess.Popen
                       ) -> dict[str, float]:  # fmt: skip
    """requester -> when its final flagged stretch began (seen flagged, never unflagged
    after), polled until the simulation exits."""
    since: dict[str, float] = {}
    async with Client(url, token) as operator:
        while run.poll() is None:
            for requester in requesters:
                seen_at = time.time()
                try:
                    card = await operator.scorecard(requester)
                except ApiError:
                    continue  # not created yet (404), or a busy moment
                if card["rejection_outlier"]["flagged"]:
                    since.setdefault(requester, seen_at)
                else:
                    since.pop(requester, None)
            await asyncio.sleep(0.5)
    return since


def test_informed_workers_claim_through_groups_and_avoid_flagged_requesters(
        kafka_bootstrap, redis_url, tmp_path):  # fmt: skip
    run_id = f"inf-{uuid.uuid4().hex[:6]}"
    requesters = [f"{run_id}-r{i:02d}" for i in range(REQUESTERS)]
    with running_stack_on_a_free_db(kafka_bootstrap, redis_url, tmp_path / "stack",
                                    CANDIDATE_DBS, clock_speed=SPEED) as stack:
        cmd = [sys.executable, "-m", "deploy.cli", "simulate", "--url", stack.url,
               "--seed", "7", "--duration", str(DURATION_S), "--requesters", str(REQUESTERS),
               "--workers", str(WORKERS), "--clock-speed", str(SPEED), "--informed-share",
               "0.5", "--run-id", run_id, "--json"]
        out = tmp_path / "summary.json"
        with out.open("w") as stdout:
            run = subprocess.Popen(cmd, env=stack.env, stdout=stdout, stderr=subprocess.PIPE,
                                   text=True)
            flagged_since = asyncio.run(_watch_flags(stack.url, stack.operator_token,
                                                     requesters, run))
            _, stderr = run.communicate(timeout=DURATION_S + 120)
        stack.assert_alive()
    assert run.returncode == 0, stderr[-3000:]
    summary = json.loads(out.read_text())
    split = summary["informed"]
    print(json.dumps({"flagged_since": flagged_since, "informed": split}, indent=2))
    if os.environ.get("PIECEWORK_KEEP_SUMMARY"):
        print(out.read_text())

    assert summary["server_errors"] == 0, summary["errors"]
    assert not [e for e in summary["errors"] if e.startswith("simulator:")]
    assert split["workers"] == WORKERS // 2 and split["share"] == 0.5
    assert split["group_listings"] > 0 and split["group_claims"] > 0
    informed = split["by_worker_class"]["informed"]
    assert informed["claims"] >= split["group_claims"] > 0
    assert informed["submissions"] > 0
    # Wages come from the broker's statements: both kinds of workers did paid work.
    for kind in split["by_worker_class"].values():
        assert kind["work_ms"] > 0 and kind["paid"] > 0

    # Not vacuous: the run must flag someone for the avoidance check to mean anything.
    assert flagged_since, "no requester was flagged during the run: run longer"
    late = refresh_wall_s(SPEED) + CLOCK_SLACK_S
    for requester, since in flagged_since.items():
        tally = split["by_requester"][requester.removeprefix(run_id + "-")]
        last = tally["last_informed_claim_at"]
        assert last is None or last <= since + late, (requester, since, last)
