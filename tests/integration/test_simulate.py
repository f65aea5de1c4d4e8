"""`piecework simulate` against a real stack: processor, API, views and timers as processes,
on the real Kafka and Redis. The marketplace must trade and the API must not fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from testkit.stack_processes import probe, running_stack

SPEED = 600  # ten marketplace minutes per second: fair payers review within the run
DURATION_S = 20
REDIS_DB = int(os.environ.get("PIECEWORK_TEST_STACK_REDIS_DB", "11"))


def test_simulated_marketplace_trades_through_the_api(kafka_bootstrap, redis_url, tmp_path):
    with running_stack(kafka_bootstrap, redis_url, tmp_path / "stack", redis_db=REDIS_DB,
                       clock_speed=SPEED) as stack:
        probe(stack)
        cmd = [sys.executable, "-m", "deploy.cli", "simulate", "--url", stack.url,
               "--seed", "7", "--duration", str(DURATION_S), "--requesters", "6",
               "--workers", "40", "--clock-speed", str(SPEED), "--json"]
        run = subprocess.run(cmd, env=stack.env, capture_output=True, text=True,
                             timeout=DURATION_S + 90)
        stack.assert_alive()
        assert run.returncode == 0, run.stderr[-3000:]
        summary = json.loads(run.stdout)
        print(json.dumps(summary, indent=2))

        assert summary["tasks_posted"] > 0 and summary["batches_posted"] >= 6
        assert summary["claims"] > 0 and summary["submissions"] > 0
        assert summary["approvals"] > 0
        assert summary["server_errors"] == 0, summary["errors"]
        assert not [e for e in summary["errors"] if e.startswith("simulator:")]
        # Only refusals the marketplace explains (late work, late reviews, races).
        assert set(summary["refused"]) <= {
            "lease_expired", "claim_not_live", "not_pending", "insufficient_balance",
            "insufficient_funds", "no_submission", "not_rejected"}, summary["refused"]
