"""Bulk review against the real stack: 1,000 submissions of one requester decided in one
POST /v1/reviews, answered per item, paid exactly for the approved ones, idempotent."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from broker.client import Client
from testkit.stack_processes import Stack, running_stack_on_a_free_db

# Redis DBs tried in order: a DB another running stack owns is skipped (see _claim_db).
CANDIDATE_DBS = (6, 5, 7)
DEADLINE_S = 300.0
REWARD = 300_000
SPEC = {"kind": "survey", "reward": REWARD, "currency": "EUR", "estimated_seconds": 60,
        "payload": {"q": "bulk review"}}
N_TASKS, N_WORKERS = 990, 10
SINGLY_APPROVED, UNKNOWN = 10, 10  # refused in the bulk request: 980 valid + 20 refused


@pytest.fixture(scope="module")
def stack(kafka_bootstrap, redis_url, tmp_path_factory) -> Iterator[Stack]:
    with running_stack_on_a_free_db(
            kafka_bootstrap, redis_url, tmp_path_factory.mktemp("reviews"), CANDIDATE_DBS,
            extra_env={"PIECEWORK_RATE_LIMIT": "100000", "PIECEWORK_RATE_BURST": "100000"},
    ) as running:
        yield running


async def call(url: str, token: str, body: Any, key: str) -> tuple[int, dict, dict]:
    """POST /v1/reviews with an explicit key; 503 (the processor is busy) is tried again."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    deadline = time.monotonic() + DEADLINE_S
    timeout = aiohttp.ClientTimeout(total=DEADLINE_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            async with session.post(url + "/v1/reviews", json=body, headers=headers) as r:
                data = await r.json(content_type=None)
                if r.status != 503 or time.monotonic() > deadline:
                    return r.status, data, dict(r.headers)
            await asyncio.sleep(0.5)


async def submissions(stack: Stack, requester: str, workers: list[str], n: int) -> dict[str, int]:
    """Post n tasks, have the workers claim and submit each one: {submission_id: worker #}."""
    async with Client(stack.url, requester, timeout=120) as client:
        posted = await client.post_batch(f"b-{uuid.uuid4().hex[:8]}", [SPEC] * n)
    tasks = posted["task_ids"]
    limiter = asyncio.Semaphore(16)
    found: dict[str, int] = {}

    async def work(k: int, client: Client, task_id: str) -> None:
        async with limiter:
            claim = await client.claim(task_id)
            submitted = await client.submit(claim["claim_id"], {"answer": k})
            found[submitted["submission_id"]] = k % len(workers)

    clients = [Client(stack.url, w, timeout=120, retries=8) for w in workers]
    for c in clients:
        await c.__aenter__()
    try:
        await asyncio.gather(*(work(k, clients[k % len(workers)], t) for k, t in enumerate(tasks)))
    finally:
        for c in clients:
            await c.close()
    return found


async def credited(stack: Stack, token: str) -> int:
    async with Client(stack.url, token) as client:
        ledger = await client.get("/v1/ledger")
    return ledger["accounts"].get("EUR", {}).get("credited", 0)


async def wait_credited(stack: Stack, tokens: list[str], expected: list[int]) -> list[int]:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        seen = [await credited(stack, t) for t in tokens]
        if seen == expected or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.5)


def test_a_thousand_reviews_in_one_request(stack: Stack):
    async def scenario() -> None:
        tag = uuid.uuid4().hex[:6]
        async with Client(stack.url, stack.operator_token) as op:
            acme = await op.create_actor(f"acme-{tag}", "requester")
            rival = await op.create_actor(f"rival-{tag}", "requester")
            workers = [await op.create_actor(f"w{i}-{tag}", "worker") for i in range(N_WORKERS)]
        for token in (acme, rival):
            async with Client(stack.url, token) as client:
                await client.deposit(900_000_000, "EUR")
        subs = await submissions(stack, acme, workers, N_TASKS)
        rival_subs = await submissions(stack, rival, workers[:1], 1)
        ordered = sorted(subs)
        early, rest = ordered[:SINGLY_APPROVED], ordered[SINGLY_APPROVED:]
        async with Client(stack.url, acme) as client:
            for sid in early:
                await client.approve(sid)
        unknown = [f"{sid.rsplit(':', 1)[0]}:c9" for sid in ordered[:UNKNOWN]]
        approve, reject = rest[: len(rest) * 3 // 4], rest[len(rest) * 3 // 4 :]
        items = (
            [{"submission_id": s, "decision": "approve"} for s in approve]
            + [{"submission_id": s, "decision": "reject", "reason": "off topic"} for s in reject]
            + [{"submission_id": s, "decision": "approve"} for s in early + unknown]
        )
        assert len(items) == 1_000 and len(approve) + len(reject) == 980

        status, answer, headers = await call(stack.url, acme, {"items": items}, "bulk-1")
        assert status == 200, answer
        assert "Idempotent-Replayed" not in headers
        assert (answer["approved"], answer["rejected"], answer["refused"]) == (
            len(approve), len(reject), SINGLY_APPROVED + UNKNOWN)
        results = answer["results"]
        assert [r["submission_id"] for r in results] == [i["submission_id"] for i in items]
        accepted = {"ok": True, "code": None, "message": None}  # every field, always (typed)
        assert all(r == {"submission_id": r["submission_id"], **accepted} for r in results[:980])
        assert [r["code"] for r in results[980:990]] == ["not_pending"] * SINGLY_APPROVED
        assert [r["code"] for r in results[990:]] == ["not_found"] * UNKNOWN
        assert len(answer["events"]) == 980

        # every worker credited exactly its approved submissions (the bulk and the single)
        paid = set(approve) | set(early)
        expected = [REWARD * sum(1 for s in paid if subs[s] == w) for w in range(N_WORKERS)]
        assert await wait_credited(stack, workers, expected) == expected

        # the same key again: the same answer, replayed, and no new events or credits
        status2, again, headers2 = await call(stack.url, acme, {"items": items}, "bulk-1")
        assert status2 == 200 and headers2.get("Idempotent-Replayed") == "true"
        assert again == answer
        await asyncio.sleep(2)
        assert await wait_credited(stack, workers, expected) == expected

        # tenant isolation: another requester's submission, and an id naming none
        (rival_sid,) = rival_subs
        body = {"items": [{"submission_id": rival_sid, "decision": "approve"},
                          {"submission_id": "nonsense", "decision": "approve"}]}
        status3, isolated, _ = await call(stack.url, acme, body, "bulk-2")
        assert status3 == 200, isolated
        assert [r["code"] for r in isolated["results"]] == ["forbidden", "not_found"]
        assert (isolated["approved"], isolated["refused"], isolated["events"]) == (0, 2, [])
        # the rival's own bulk review of it still works: nothing was decided for it
        status4, own, _ = await call(stack.url, rival, {"items": body["items"][:1]}, "bulk-3")
        assert status4 == 200 and own["approved"] == 1, own

        # more than 1,000 items is 413
        too_many = {"items": [*items, {"submission_id": f"{ordered[0]}0", "decision": "approve"}]}
        status5, error, _ = await call(stack.url, acme, too_many, "bulk-4")
        assert status5 == 413, error

    asyncio.run(scenario())


def test_the_review_command_reads_a_csv(stack: Stack, tmp_path, capsys):
    async def setup() -> tuple[str, list[str]]:
        tag = uuid.uuid4().hex[:6]
        async with Client(stack.url, stack.operator_token) as op:
            acme = await op.create_actor(f"csv-{tag}", "requester")
            worker = await op.create_actor(f"csvw-{tag}", "worker")
        async with Client(stack.url, acme) as client:
            await client.deposit(10_000_000, "EUR")
        return acme, sorted(await submissions(stack, acme, [worker], 3))

    from deploy.cli import main

    acme, (s1, s2, s3) = asyncio.run(setup())
    path = tmp_path / "reviews.csv"
    path.write_text("submission_id,decision,reason\n"
                    f"{s1},approve,\n{s2},reject,\"wrong, sorry\"\n{s3}9,approve,\n")  # fmt: skip
    capsys.readouterr()
    assert main(["review", str(path), "--url", stack.url, "--token", acme]) == 1
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["approved"], summary["rejected"], summary["refused"]) == (1, 1, 1)
