"""Idempotency-Key and batch ids against the real stack: a key names one request, never
another's reply, and a batch id names one immutable batch.

Each case was reproducible on 4237ba0: one key on three requesters' tasks minted the same
event ids three times; one key on two overturns left a credit short; one key with another
body answered 201 with the first reply; a re-posted batch id with other tasks answered 201.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from broker.client import Client
from testkit.stack_processes import Stack, probe, running_stack

DEADLINE_S = 180.0
REWARD = 300_000
SPEC = {"kind": "survey", "reward": REWARD, "currency": "EUR", "estimated_seconds": 60,
        "payload": {"q": "idempotency"}}


@pytest.fixture(scope="module")
def stack(kafka_bootstrap, redis_url, tmp_path_factory) -> Iterator[Stack]:
    with running_stack(kafka_bootstrap, redis_url, tmp_path_factory.mktemp("idem"),
                       redis_db=4) as running:  # fmt: skip
        probe(running)
        yield running


async def call(url: str, token: str, method: str, path: str, body: Any = None,
               key: str | None = None) -> tuple[int, dict, dict]:  # fmt: skip
    """One request, with an explicit key; 503 (the processor is busy) is tried again."""
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    deadline = time.monotonic() + DEADLINE_S
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.request(method, url + path, json=body, headers=headers) as r:
                data = await r.json(content_type=None) if r.status != 204 else {}
                if r.status != 503 or time.monotonic() > deadline:
                    return r.status, data, dict(r.headers)
            await asyncio.sleep(0.5)


async def actors(stack: Stack, n_requesters: int) -> tuple[list[str], str, str]:
    tag = uuid.uuid4().hex[:6]
    async with Client(stack.url, stack.operator_token) as op:
        requesters = [await op.create_actor(f"r{i}-{tag}", "requester")
                      for i in range(n_requesters)]  # fmt: skip
        worker = await op.create_actor(f"w-{tag}", "worker")
    for token in requesters:
        async with Client(stack.url, token) as requester:
            await requester.deposit(500_000_000, "EUR")
    return requesters, worker, f"w-{tag}"


async def one_task(stack: Stack, requester: str) -> str:
    async with Client(stack.url, requester) as client:
        posted = await client.post_batch(f"b-{uuid.uuid4().hex[:8]}", [SPEC])
    return posted["task_ids"][0]


def test_one_key_on_three_requesters_tasks_names_three_claims(stack: Stack):
    async def body() -> list[tuple[int, dict, dict]]:
        requesters, worker, _ = await actors(stack, 3)
        tasks = [await one_task(stack, r) for r in requesters]
        return [await call(stack.url, worker, "POST", f"/v1/tasks/{t}/claim", key="same-key")
                for t in tasks]  # fmt: skip

    answers = asyncio.run(body())
    assert [status for status, _, _ in answers] == [201, 201, 201], answers
    events = [e for _, data, _ in answers for e in data["events"]]
    assert len(set(events)) == len(events) == 3
    assert len({data["command_id"] for _, data, _ in answers}) == 3


def test_one_key_on_two_overturns_pays_both(stack: Stack):
    async def body() -> tuple[list[int], dict]:
        requesters, worker, worker_id = await actors(stack, 2)
        subs = []
        for requester in requesters:
            task = await one_task(stack, requester)
            _, claim, _ = await call(stack.url, worker, "POST", f"/v1/tasks/{task}/claim")
            status, _, _ = await call(stack.url, worker, "POST",
                                      f"/v1/claims/{claim['claim_id']}/submit", {"answer": "a"})
            assert status == 201
            sub = claim["claim_id"]
            status, _, _ = await call(stack.url, requester, "POST",
                                      f"/v1/submissions/{sub}/reject", {"reason": "no"})
            assert status == 200
            subs.append(sub)
        statuses = [(await call(stack.url, stack.operator_token, "POST",
                                f"/v1/submissions/{s}/overturn", key="one-key"))[0]
                    for s in subs]  # fmt: skip
        deadline = time.monotonic() + DEADLINE_S
        while True:
            _, ledger, _ = await call(stack.url, stack.operator_token, "GET",
                                      f"/v1/ledger/worker/{worker_id}")
            eur = ledger["accounts"].get("EUR", {})
            if eur.get("credited") == 2 * REWARD or time.monotonic() > deadline:
                return statuses, eur
            await asyncio.sleep(0.5)

    statuses, eur = asyncio.run(body())
    assert statuses == [200, 200]
    assert eur.get("credited") == eur.get("balance") == 2 * REWARD, eur


def test_the_same_key_with_another_body_is_refused_and_the_same_body_replayed(stack: Stack):
    async def body() -> list[tuple[int, dict, dict]]:
        (requester,), _, _ = await actors(stack, 1)
        one, other = {"amount": 1_000_000, "currency": "EUR"}, {"amount": 777_000_000,
                                                                 "currency": "EUR"}
        return [await call(stack.url, requester, "POST", "/v1/deposits", b, key="dep-1")
                for b in (one, other, one)]  # fmt: skip

    first, reused, again = asyncio.run(body())
    assert first[0] == 201 and "Idempotent-Replayed" not in first[2]
    assert reused[0] == 422 and reused[1]["code"] == "idempotency_key_reused", reused
    assert again[0] == 201 and again[1] == first[1]
    assert again[2].get("Idempotent-Replayed") == "true"


def test_a_batch_id_names_one_immutable_batch(stack: Stack):
    async def body() -> dict[str, tuple[int, dict, dict]]:
        (requester,), _, _ = await actors(stack, 1)
        batch = f"b-{uuid.uuid4().hex[:8]}"
        post = lambda tasks: call(stack.url, requester, "POST", "/v1/batches",  # noqa: E731
                                  {"batch_id": batch, "tasks": tasks})
        big = [{**SPEC, "payload": {"i": i}} for i in range(501)]  # two chunks
        answers = {"first": await post([SPEC]), "again": await post([SPEC]),
                   "other": await post([{**SPEC, "reward": REWARD + 1}]),
                   "grown": await post(big)}  # fmt: skip
        answers["chunk 1"] = await call(stack.url, requester, "GET",
                                        f"/v1/tasks/{requester_id(answers)}:{batch}.1:0")
        answers["empty"] = await call(stack.url, requester, "POST", "/v1/batches",
                                      {"batch_id": f"{batch}-e", "tasks": []})
        multi = f"{batch}-m"
        answers["multi"] = await call(stack.url, requester, "POST", "/v1/batches",
                                      {"batch_id": multi, "tasks": big})
        answers["multi again"] = await call(stack.url, requester, "POST", "/v1/batches",
                                            {"batch_id": multi, "tasks": big})
        return answers

    a = asyncio.run(body())
    assert a["first"][0] == 201 and a["first"][1]["posted"] == 1, a["first"]
    assert a["again"][0] == 200 and a["again"][1]["existing"] == 1
    assert a["again"][1]["posted"] == 0 and a["again"][1]["task_ids"] == a["first"][1]["task_ids"]
    for case in ("other", "grown"):
        assert a[case][0] == 409 and a[case][1]["code"] == "duplicate_batch", (case, a[case])
    assert a["chunk 1"][0] == 404, "a refused batch must post no chunk"
    assert a["empty"][0] == 422
    assert a["multi"][0] == 201 and a["multi"][1]["posted"] == 501, a["multi"][1]["refused"]
    assert a["multi again"][0] == 200 and a["multi again"][1]["existing"] == 501
    assert a["multi again"][1]["task_ids"] == a["multi"][1]["task_ids"]


def requester_id(answers: dict[str, tuple[int, dict, dict]]) -> str:
    return answers["first"][1]["task_ids"][0].split(":", 1)[0]
