"""Listings against the real stack: a 2,000-task batch paged by 100 while more batches are
posted and submissions reviewed; the review queue paged; the results export in JSON lines
and CSV; tenant isolation on every new route. No timing assertions: deadlines only."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from broker.client import Client
from testkit.stack_processes import Stack, running_stack_on_a_free_db, until_seen

CANDIDATE_DBS = (3, 4, 8)
SPEC = {"kind": "survey", "reward": 1_000, "currency": "EUR", "estimated_seconds": 60,
        "payload": {"q": "listing"}}
N_TASKS, N_SUBMITTED, N_WORKERS = 2_000, 60, 4


@pytest.fixture(scope="module")
def stack(kafka_bootstrap, redis_url, tmp_path_factory) -> Iterator[Stack]:
    with running_stack_on_a_free_db(
            kafka_bootstrap, redis_url, tmp_path_factory.mktemp("listings"), CANDIDATE_DBS,
            extra_env={"PIECEWORK_RATE_LIMIT": "100000", "PIECEWORK_RATE_BURST": "100000"},
    ) as running:
        yield running


async def collect(pages: Any) -> list[dict[str, Any]]:
    return [item async for item in pages]


async def status_of(url: str, token: str, path: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session, session.get(url + path, headers=headers) as r:
        await r.read()
        return r.status


def test_listings_page_exactly_once_under_concurrent_writes(stack: Stack):
    async def scenario() -> None:
        tag = uuid.uuid4().hex[:6]
        async with Client(stack.url, stack.operator_token) as op:
            acme_id, rival_id = f"acme-{tag}", f"rival-{tag}"
            acme = await op.create_actor(acme_id, "requester")
            rival = await op.create_actor(rival_id, "requester")
            workers = [await op.create_actor(f"w{i}-{tag}", "worker") for i in range(N_WORKERS)]
        req = Client(stack.url, acme, timeout=300, retries=8)
        riv = Client(stack.url, rival, timeout=300, retries=8)
        wcs = [Client(stack.url, w, timeout=300, retries=8) for w in workers]
        opc = Client(stack.url, stack.operator_token, timeout=300, retries=8)
        for c in (req, riv, opc, *wcs):
            await c.__aenter__()
        try:
            await req.deposit(10**12, "EUR")
            await riv.deposit(10**9, "EUR")
            posted = await req.post_batch("big", [SPEC] * N_TASKS)
            task_ids = posted["task_ids"]
            assert len(task_ids) == N_TASKS and task_ids[0] == f"{acme_id}:big.0:0"
            await riv.post_batch("theirs", [SPEC])
            await until_seen("the big batch", lambda: _has_tasks(req, "big", N_TASKS))

            # Work on the first tasks, so there is a review queue.
            async def work(k: int, task_id: str) -> str:
                worker = wcs[k % N_WORKERS]
                claim = await worker.claim(task_id)
                return (await worker.submit(claim["claim_id"], {"answer": k}))["submission_id"]

            subs = await asyncio.gather(*(work(k, t) for k, t in
                                          enumerate(task_ids[:N_SUBMITTED])))  # fmt: skip
            answers = {sid: {"answer": k} for k, sid in enumerate(subs)}
            await until_seen("the review queue", lambda: _queue_has(req, N_SUBMITTED))

            # Page while another task posts batches, reviews, and more work is submitted.
            approved, rejected = subs[: N_SUBMITTED // 3], subs[N_SUBMITTED // 3: N_SUBMITTED // 2]
            untouched = set(subs) - set(approved) - set(rejected)

            async def writer() -> list[str]:
                extra = []
                for n in range(3):
                    await req.post_batch(f"more{n}", [SPEC] * 120)
                    extra.append(f"more{n}")
                for sid in approved:
                    await req.approve(sid)
                for sid in rejected:
                    await req.reject(sid, "not good")
                return extra

            async def page_tasks() -> list[str]:
                return [t["task_id"] async for t in req.batch_tasks("big", limit=100)]

            async def page_queue() -> list[str]:
                return [s["submission_id"] async for s in req.review_queue(limit=7)]

            extra, paged_tasks, paged_queue = await asyncio.gather(
                writer(), page_tasks(), page_queue())
            assert paged_tasks == task_ids  # every task once, in posting order
            assert len(paged_queue) == len(set(paged_queue))  # none twice
            assert untouched <= set(paged_queue) <= set(subs)  # none skipped

            # Once the views follow: statuses, progress, listing order, review queue.
            progress = await until_seen("the reviews", lambda: _progress_is(
                req, "big", approved=len(approved), rejected=len(rejected)))
            assert progress["tasks"] == N_TASKS and progress["chunks"] == 4
            assert progress["status_counts"]["submitted"] == len(untouched)
            assert progress["open"] == N_TASKS - N_SUBMITTED
            assert progress["spend"] > 0 and isinstance(progress["escrow"], int)
            got = await collect(req.batch_tasks("big", "approved", limit=5))
            assert [t["task_id"] for t in got] == [s.rsplit(":", 1)[0] for s in approved]
            assert got[0]["payload"] == {"q": "listing"} and got[0]["reward"] == 1_000
            queue = await collect(req.review_queue(limit=100))
            assert {s["submission_id"] for s in queue} == untouched
            assert all(s["answer"] == answers[s["submission_id"]] for s in queue)
            done = await collect(req.review_queue("approved", "big", limit=3))
            assert [s["submission_id"] for s in done] == approved
            await until_seen("every batch", lambda: _batches_are(req, 4))
            listed = await collect(req.batches(limit=2))
            assert [b["batch_id"] for b in listed] == [*reversed(extra), "big"]

            # Results: JSON lines and CSV, one row per submission, in task order.
            body = b"".join([chunk async for chunk in req.results("big")])
            rows = [json.loads(line) for line in body.decode().splitlines()]
            assert [r["submission_id"] for r in rows] == subs
            assert {r["submission_id"]: r["answer"] for r in rows} == answers
            by_id = {r["submission_id"]: r for r in rows}
            assert by_id[approved[0]]["status"] == "approved"
            assert by_id[rejected[0]]["status"] == "rejected"
            assert by_id[rejected[0]]["reason"] == "not good"
            assert all(isinstance(r["submitted_at"], int) for r in rows)
            text = b"".join([chunk async for chunk in req.results("big", "csv")]).decode()
            table = list(csv.DictReader(io.StringIO(text)))
            assert text.startswith("task_id,submission_id,worker,status,")
            assert [r["submission_id"] for r in table] == subs
            assert {r["submission_id"]: json.loads(r["answer"]) for r in table} == answers
            async with aiohttp.ClientSession() as session, session.get(
                f"{stack.url}/v1/batches/big/results",
                headers={"Authorization": f"Bearer {acme}", "Accept": "text/csv"},
            ) as r:
                assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
                assert len((await r.text()).splitlines()) == N_SUBMITTED + 1

            # Tenant isolation on every route.
            for path in ("/v1/batches/big", "/v1/batches/big/tasks", "/v1/batches/big/results"):
                assert await status_of(stack.url, rival, path) == 404, path
            for path in ("/v1/batches", "/v1/batches/big", "/v1/batches/big/tasks",
                         "/v1/batches/big/results", "/v1/submissions"):
                assert await status_of(stack.url, workers[0], path) == 403, path
                assert await status_of(stack.url, rival, path.split("?")[0] +
                                       f"?requester_id={acme_id}") == 403, path
            assert [b["batch_id"] for b in await collect(riv.batches())] == ["theirs"]
            assert await collect(riv.review_queue()) == []
            assert await status_of(stack.url, stack.operator_token, "/v1/batches") == 422
            seen = await opc.batch("big", requester_id=acme_id)
            assert seen["tasks"] == N_TASKS
            assert await status_of(stack.url, acme, "/v1/batches?limit=1001") == 422
            assert await status_of(stack.url, acme, "/v1/batches?cursor=garbage") == 422
            assert await status_of(stack.url, acme, "/v1/batches/big/tasks?status=x") == 422
        finally:
            for c in (req, riv, opc, *wcs):
                await c.close()

    asyncio.run(scenario())
    stack.assert_alive()


async def _has_tasks(client: Client, batch: str, n: int) -> bool:
    return (await client.batch(batch))["tasks"] == n


async def _queue_has(client: Client, n: int) -> bool:
    return len(await collect(client.review_queue(limit=1000))) == n


async def _progress_is(client: Client, batch: str, **expected: int) -> dict | None:
    found = await client.batch(batch)
    return found if all(found[k] == v for k, v in expected.items()) else None


async def _batches_are(client: Client, n: int) -> bool:
    return len(await collect(client.batches())) == n
