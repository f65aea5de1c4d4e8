"""The README's twenty-line example runs as written against a real stack on which other
requesters' tasks, better paid and for the same qualification, are open: the example's
worker must still do the example's own task."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

from broker.client import Client
from testkit.stack_processes import PATIENCE_S, probe, running_stack

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 1, "the README should hold exactly one Python example"
    return blocks[0]


async def other_requesters_tasks(url: str, operator_token: str) -> None:
    async with Client(url, operator_token) as op:
        rival = await op.create_actor("rival", "requester")
    async with Client(url, rival) as client:
        await client.deposit(10**9, "EUR")
        await client.post_batch("lure", [{"kind": "translation", "reward": 900_000,
                                          "currency": "EUR", "estimated_seconds": 60,
                                          "qualifications": ["fr"], "priority": 9,
                                          "payload": {"text": "Salut"}}] * 20)


def test_the_readme_example_claims_submits_and_gets_approved(kafka_bootstrap, redis_url, tmp_path):
    code = readme_example()
    assert len(code.strip().splitlines()) <= 25
    with running_stack(kafka_bootstrap, redis_url, tmp_path, redis_db=9) as stack:
        probe(stack)
        asyncio.run(other_requesters_tasks(stack.url, stack.operator_token))
        # Only the address and the operator token differ from the README's defaults.
        runnable = code.replace("http://127.0.0.1:8080", stack.url).replace(
            '"op-secret"', repr(stack.operator_token)
        )
        result = subprocess.run(
            [sys.executable, "-c", runnable], capture_output=True, text=True, timeout=PATIENCE_S
        )
        assert result.returncode == 0, result.stderr[-3000:]
        ledger = subprocess.run(
            [
                sys.executable,
                "-m",
                "deploy.cli",
                "ledger",
                "--platform",
                "--json",
                "--url",
                stack.url,
                "--token",
                stack.operator_token,
            ],
            capture_output=True,
            text=True,
            timeout=PATIENCE_S,
        )
    assert ledger.returncode == 0, ledger.stderr
    report = json.loads(ledger.stdout)
    euro = report["totals"]["EUR"]
    # Neither the probe nor the others approve: the only approved work is the README's 0.30 EUR.
    assert euro["credited"] == 300_000 and euro["worker_balances"] == 300_000
    assert euro["imbalance"] == 0 and report["violations"] == []
