"""The running API answers what its own OpenAPI description says.

First a whole task's life through every kind of answer (the 2xx bodies random inputs
rarely reach: a task, a claim, a submission with its answer, the ledgers, the pages),
each checked against the document the API serves. Then schemathesis fuzzes every
operation from that document. Checks: no 5xx, every response in the described content
type, schema and headers (errors are the JSON {code, message} form), status codes as
documented. One pass per role's token, so the handlers behind the role guard are reached.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from broker.client import Client
from testkit.stack_processes import PATIENCE_S, PATIENT_RETRIES, Stack, probe, running_stack
from tests.openapi_kit import answer_validator, errors

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    )
)
# One schemathesis run per role: about a minute on a quiet machine.
RUN_TIMEOUT_S = 2 * PATIENCE_S
SPEC = {"kind": "translation", "reward": 300_000, "currency": "EUR", "estimated_seconds": 120,
        "qualifications": ["fr"], "payload": {"text": "Bonjour"}}  # fmt: skip


@pytest.fixture(scope="module")
def stack(kafka_bootstrap, redis_url, tmp_path_factory) -> Iterator[Stack]:
    with running_stack(kafka_bootstrap, redis_url, tmp_path_factory.mktemp("fuzz"),
                       redis_db=10) as running:  # fmt: skip
        probe(running)
        yield running


class Conformant:
    """Calls the API as one actor; every answer is checked against the served document.
    `template` is the document's path, filled in with `params`; `query` goes after it."""

    def __init__(self, session: aiohttp.ClientSession, url: str, spec: dict, token: str):
        self.session, self.url, self.spec, self.token = session, url, spec, token
        self.replayed: str | None = None  # the last answer's Idempotent-Replayed

    async def __call__(self, method: str, template: str, body: Any = None, *,
                       key: str | None = None, query: str = "",
                       **params: str) -> tuple[int, Any]:  # fmt: skip
        headers = {"Authorization": f"Bearer {self.token}"}
        if key:
            headers["Idempotency-Key"] = key
        path = template.format(**params) + query
        async with self.session.request(method, self.url + path, json=body,
                                        headers=headers) as response:  # fmt: skip
            data = None if response.status == 204 else await response.json()
            check = answer_validator(self.spec, method, template, response.status)
            if check is not None:
                assert response.content_type == "application/json", (method, path)
                assert not errors(check, data), (method, path, response.status, data)
            self.replayed = response.headers.get("Idempotent-Replayed")
            assert self.replayed in (None, "true"), self.replayed
            return response.status, data

    async def until(self, template: str, **params: str) -> Any:
        """The 200 answer of a read, once the views have caught up with the log."""
        deadline = time.monotonic() + PATIENCE_S
        while True:
            status, data = await self("GET", template, **params)
            if status == 200:
                return data
            assert status == 404 and time.monotonic() < deadline, (template, status, data)
            await asyncio.sleep(0.3)


async def lifecycle(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:6]
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{stack.url}/openapi.json") as response:
            spec = await response.json()

        def as_(token: str) -> Conformant:
            return Conformant(session, stack.url, spec, token)

        op = as_(stack.operator_token)
        tokens = {}
        for name, role in (("req", "requester"), ("wrk", "worker"), ("two", "worker")):
            status, made = await op("POST", "/v1/actors", {"actor_id": f"lc-{name}-{tag}",
                                                           "role": role, "qualifications": ["fr"]})
            assert status == 201 and made["role"] == role
            tokens[name] = made["token"]
        req, wrk, two = as_(tokens["req"]), as_(tokens["wrk"]), as_(tokens["two"])
        deposit = {"amount": 50_000_000, "currency": "EUR"}
        assert (await req("POST", "/v1/deposits", deposit))[0] == 201
        batch = {"batch_id": f"lc-{tag}", "tasks": [SPEC, SPEC, SPEC]}
        status, posted = await req("POST", "/v1/batches", batch)
        assert status == 201 and posted["posted"] == 3
        assert type(posted["commands"][0]["escrow"]) is int
        assert (await req("POST", "/v1/batches", batch))[0] == 200
        t0, t1, t2 = posted["task_ids"]

        task = await req.until("/v1/tasks/{task_id}", task_id=t0)
        assert task["reward"] == 300_000 and task["payload"] == {"text": "Bonjour"}
        assert task["qualifications"] == ["fr"] and task["below_wage_floor"] is False
        status, claim = await wrk("POST", "/v1/tasks/{task_id}/claim", task_id=t0)
        assert status == 201 and type(claim["lease_expires_at"]) is int
        seen = await wrk.until("/v1/claims/{claim_id}", claim_id=claim["claim_id"])
        assert seen["status"] == "active" and type(seen["claimed_at"]) is int
        answer = {"text": "Hello", "confidence": 0.9}
        submit = "/v1/claims/{claim_id}/submit"
        status, first = await wrk("POST", submit, {"answer": answer}, key=f"s-{tag}",
                                  claim_id=claim["claim_id"])  # fmt: skip
        assert status == 201 and wrk.replayed is None
        status, again = await wrk("POST", submit, {"answer": answer}, key=f"s-{tag}",
                                  claim_id=claim["claim_id"])  # fmt: skip
        assert status == 201 and again == first and wrk.replayed == "true"
        sid = first["submission_id"]
        sub = await req.until("/v1/submissions/{submission_id}", submission_id=sid)
        assert sub["answer"] == answer and sub["reviewed_at"] is None
        status, page = await req("GET", "/v1/tasks/{task_id}/submissions", query="?limit=1",
                                 task_id=t0)  # fmt: skip
        assert status == 200 and page["items"][0]["answer"] == answer
        assert page["next_cursor"] is None

        review = "/v1/submissions/{submission_id}/"
        assert (await req("POST", review + "reject", {"reason": "no"}, submission_id=sid))[0] == 200
        status, _ = await wrk("POST", review + "dispute", {"reason": "yes"}, submission_id=sid)
        assert status == 200
        assert (await req("POST", review + "overturn", submission_id=sid))[0] == 200
        worker_id = f"lc-wrk-{tag}"
        status, bonus = await req("POST", "/v1/tasks/{task_id}/bonus",
                                  {"worker_id": worker_id, "amount": 1_000, "reason": "thanks"},
                                  task_id=t0)  # fmt: skip
        assert status == 200 and type(bonus["fee"]) is int

        status, claimed = await two("POST", "/v1/tasks/{task_id}/claim", task_id=t1)
        assert status == 201
        status, released = await two("POST", "/v1/claims/{claim_id}/release",
                                     claim_id=claimed["claim_id"])  # fmt: skip
        assert status == 200 and type(released["released_escrow"]) is int
        status, claimed = await wrk("POST", "/v1/tasks/{task_id}/claim", task_id=t1)
        assert status == 201
        status, done = await wrk("POST", submit, {"answer": [1, 2]}, claim_id=claimed["claim_id"])
        assert status == 201
        items = [{"submission_id": done["submission_id"], "decision": "approve"},
                 {"submission_id": "nobody:b:0:c1", "decision": "approve"}]
        status, reviewed = await req("POST", "/v1/reviews", {"items": items})
        assert status == 200 and (reviewed["approved"], reviewed["refused"]) == (1, 1)
        assert reviewed["results"][0]["ok"] is True and reviewed["results"][1]["code"]
        assert (await req("POST", "/v1/tasks/{task_id}/cancel", task_id=t2))[0] == 200

        for who, template, params in (
                (wrk, "/v1/ledger", {}), (req, "/v1/ledger", {}),
                (op, "/v1/ledger/{role}/{actor_id}", {"role": "worker", "actor_id": worker_id}),
                (op, "/v1/platform/ledger", {})):  # fmt: skip
            status, ledger = await who("GET", template, **params)
            assert status == 200, ledger
        progress = await req.until("/v1/batches/{batch_id}", batch_id=batch["batch_id"])
        assert type(progress["tasks"]) is int and progress["currency"] == "EUR"
        for template, query in (("/v1/batches", ""), ("/v1/batches/{batch_id}/tasks", "?limit=2"),
                                ("/v1/submissions", "?status=submitted")):
            status, listed = await req("GET", template, query=query, batch_id=batch["batch_id"])
            assert status == 200 and "next_cursor" in listed
        tokens_of = "/v1/actors/{actor_id}/tokens"
        status, issued = await op("POST", tokens_of, {}, actor_id=worker_id)
        assert status == 201
        assert (await op("GET", tokens_of, actor_id=worker_id))[0] == 200
        status, revoked = await op("DELETE", tokens_of + "/{token_id}", actor_id=worker_id,
                                   token_id=issued["token_id"])  # fmt: skip
        assert status == 200 and revoked["revoked"] == [issued["token_id"]]
        # 201, or 409 while the credit is on its way to the wallet: both documented
        status, _ = await op("POST", "/v1/payouts",
                             {"worker_id": worker_id, "amount": 1, "currency": "EUR"})
        assert status in (201, 409)
        async with session.get(f"{stack.url}/healthz") as response:
            check = answer_validator(spec, "GET", "/healthz", response.status)
            assert check is not None and not errors(check, await response.json())


@pytest.mark.timeout(2 * PATIENCE_S)
def test_every_answer_of_a_task_lifecycle_is_the_documented_one(stack: Stack) -> None:
    asyncio.run(lifecycle(stack))
    stack.assert_alive()


async def tokens(url: str, operator_token: str) -> dict[str, str]:
    async with Client(url, operator_token) as operator:
        requester = await operator.create_actor("fuzz-requester", "requester")
        worker = await operator.create_actor("fuzz-worker", "worker", ["fr"])
    async with Client(url, requester, retries=PATIENT_RETRIES) as client:
        await client.deposit(1_000_000_000, "EUR")
    return {"operator": operator_token, "requester": requester, "worker": worker}


@pytest.mark.timeout(3 * RUN_TIMEOUT_S + PATIENCE_S)
def test_the_api_survives_schemathesis_for_every_role(stack: Stack, tmp_path: Path) -> None:
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
            cwd=tmp_path,  # its report directory, if any, goes there
        )
        report = result.stdout[-6000:] + result.stderr[-2000:]
        assert result.returncode == 0, f"schemathesis ({role}) found failures:\n{report}"
        assert "passed" in result.stdout.lower(), report
    stack.assert_alive()
