"""schemathesis fuzzes the running API from its own OpenAPI description.

Checks: no 5xx, every response in the described content type and schema (errors are the
JSON {code, message} form), status codes as documented. One pass per role's token, so
the handlers behind the role guard are reached too.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from broker.client import Client
from testkit.stack_processes import PATIENCE_S, PATIENT_RETRIES, probe, running_stack

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    )
)
# One schemathesis run per role: about a minute on a quiet machine.
RUN_TIMEOUT_S = 2 * PATIENCE_S


async def tokens(url: str, operator_token: str) -> dict[str, str]:
    async with Client(url, operator_token) as operator:
        requester = await operator.create_actor("fuzz-requester", "requester")
        worker = await operator.create_actor("fuzz-worker", "worker", ["fr"])
    async with Client(url, requester, retries=PATIENT_RETRIES) as client:
        await client.deposit(1_000_000_000, "EUR")
    return {"operator": operator_token, "requester": requester, "worker": worker}


@pytest.mark.timeout(3 * RUN_TIMEOUT_S + PATIENCE_S)
def test_the_api_survives_schemathesis_for_every_role(kafka_bootstrap, redis_url, tmp_path: Path):
    with running_stack(kafka_bootstrap, redis_url, tmp_path, redis_db=10) as stack:
        probe(stack)
        by_role = asyncio.run(tokens(stack.url, stack.operator_token))
        for role, token in by_role.items():
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "schemathesis.cli",
                    "run",
                    f"{stack.url}/openapi.json",
                    "--checks",
                    CHECKS,
                    "--max-examples",
                    "25",
                    "--header",
                    f"Authorization: Bearer {token}",
                    "--request-timeout",
                    str(int(PATIENCE_S)),
                    "--generation-database",
                    "none",
                    "--suppress-health-check",
                    "all",
                    "--phases",
                    "examples,coverage,fuzzing",
                ],
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT_S,
            )
            report = result.stdout[-4000:] + result.stderr[-2000:]
            assert result.returncode == 0, f"schemathesis ({role}) found failures:\n{report}"
            assert "passed" in result.stdout.lower(), report
        stack.assert_alive()
