"""Task suites against the real stack: many claims, submissions and releases per request.

A suite of 50 is 50 distinct tasks; 50 workers claiming suites of 20 at once from 500
tasks of two assignments claim every assignment exactly once and never one task twice;
submit-many then one bulk review pays each; release-many puts the tasks back on offer;
hostile bodies are refused with a 4xx, never a 500.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import redis

from broker.client import ApiError, Client
from consumers.views.queue import open_key
from consumers.views.task_groups import group_id, meta_key
from testkit.stack_processes import (
    HANG_GUARD_S,
    PATIENCE_S,
    PATIENT_RETRIES,
    Stack,
    running_stack_on_a_free_db,
)
from tests.openapi_kit import answer_validator, document, errors

CANDIDATE_DBS = (15, 12, 10)  # no other e2e module names 15
REWARD = 40_000


def spec(tag: str, i: int, assignments: int = 1, quals: tuple[str, ...] = ()) -> dict:
    return {"kind": "survey", "reward": REWARD, "currency": "EUR", "estimated_seconds": 30,
            "assignments": assignments, "qualifications": [tag, *quals],
            "payload": {"i": i}}  # fmt: skip


@pytest.fixture(scope="module")
def stack(kafka_bootstrap, redis_url, tmp_path_factory) -> Iterator[Stack]:
    with running_stack_on_a_free_db(
            kafka_bootstrap, redis_url, tmp_path_factory.mktemp("suites"), CANDIDATE_DBS,
            extra_env={"PIECEWORK_RATE_LIMIT": "100000", "PIECEWORK_RATE_BURST": "100000"},
    ) as running:
        yield running


async def until(what: str, check: Any) -> Any:
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not seen within {PATIENCE_S:.0f} s")


async def market(stack: Stack, tag: str, requesters: int, tasks: int, workers: int,
                 assignments: int = 1) -> tuple[list[str], list[str], list[str]]:  # fmt: skip
    """(requester tokens, worker tokens, task ids); the queue view holds every task."""
    posted: list[str] = []
    async with Client(stack.url, stack.operator_token) as op:
        reqs = [await op.create_actor(f"r{k}{tag}", "requester") for k in range(requesters)]
        wrk = [await op.create_actor(f"w{k}{tag}", "worker", [tag]) for k in range(workers)]
    for token in reqs:
        async with Client(stack.url, token, retries=PATIENT_RETRIES, timeout=120) as client:
            await client.deposit(10**10, "EUR")
            batch = await client.post_batch("b1", [spec(tag, i, assignments)
                                                   for i in range(tasks // requesters)])
            posted += batch["task_ids"]
    db = redis.Redis.from_url(stack.env["PIECEWORK_REDIS"])

    async def held() -> bool:
        return db.zcard(open_key(tag)) >= len(posted)

    await until(f"the queue view holding {len(posted)} tasks", held)
    return reqs, wrk, posted


def test_a_suite_of_fifty_then_submit_many_and_one_bulk_review_pays_each(stack: Stack):
    async def scenario() -> None:
        tag = uuid.uuid4().hex[:6]
        (acme,), (ana, bob), _ = await market(stack, tag, 1, 60, 2)
        async with Client(stack.url, ana, retries=PATIENT_RETRIES) as worker, \
                Client(stack.url, bob, retries=PATIENT_RETRIES) as other:  # fmt: skip
            claims = await worker.claim_suite(50)
            assert len(claims) == 50 and len({c["task_id"] for c in claims}) == 50
            assert all(c["claim_id"].startswith(c["task_id"] + ":c") and
                       c["reward"] == REWARD and c["currency"] == "EUR" for c in claims)
            assert len({c["lease_expires_at"] for c in claims}) == 1  # one decision's instant
            # the same Idempotency-Key again: the same claims, decided once
            kept = await other.claim_suite(3, idempotency_key=f"suite-{tag}")
            assert await other.claim_suite(3, idempotency_key=f"suite-{tag}") == kept
            assert len(kept) == 3 and not {c["task_id"] for c in kept} & {
                c["task_id"] for c in claims}
            theirs = await other.claim_suite(5)
            assert not {c["task_id"] for c in theirs} & {c["task_id"] for c in kept}
            assert len(theirs) == 5 and not {c["task_id"] for c in theirs} & {
                c["task_id"] for c in claims}
            # one request: 50 items, one of them another worker's claim and one unknown
            items = [{"claim_id": c["claim_id"], "answer": {"n": n}}
                     for n, c in enumerate(claims[:48])]  # fmt: skip
            items += [{"claim_id": theirs[0]["claim_id"], "answer": 1},
                      {"claim_id": f"{claims[0]['task_id']}:c9", "answer": 1}]
            done = await worker.submit_many(items)
            assert (done["submitted"], done["refused"]) == (48, 2)
            assert [r["claim_id"] for r in done["results"]] == [i["claim_id"] for i in items]
            assert [r["code"] for r in done["results"][48:]] == ["forbidden", "claim_not_live"]
            assert all(r["submission_id"] == r["claim_id"] for r in done["results"][:48])
            assert len(done["events"]) == 48 and len(done["command_ids"]) == 1
            # what is left of the suite goes back
            left = await worker.release_many([c["claim_id"] for c in claims[48:]])
            assert left["released"] == 2 and all(r["ok"] for r in left["results"])
        async with Client(stack.url, acme, retries=PATIENT_RETRIES) as requester:
            reviewed = await requester.review([{"submission_id": r["submission_id"],
                                                "decision": "approve"}
                                               for r in done["results"][:48]])  # fmt: skip
            assert reviewed["approved"] == 48
        # a retried suite ends as it was answered, even when more work appeared since
        async with Client(stack.url, bob, retries=PATIENT_RETRIES) as other:
            last = await other.claim_suite(10, idempotency_key=f"last-{tag}")
            assert len(last) == 4  # 60 - 50 - 3 - 5, and the 2 ana released
            async with Client(stack.url, acme, retries=PATIENT_RETRIES) as requester:
                fresh = (await requester.post_batch("b2", [spec(tag, i) for i in range(4)]))
            db = redis.Redis.from_url(stack.env["PIECEWORK_REDIS"])

            async def more() -> bool:
                return all(db.zscore(open_key(tag), t) is not None for t in fresh["task_ids"])

            await until("the new batch on offer", more)
            assert await other.claim_suite(10, idempotency_key=f"last-{tag}") == last
            with pytest.raises(ApiError) as reused:  # the same key for another request
                await other.claim_suite(9, idempotency_key=f"last-{tag}")
            assert (reused.value.status, reused.value.code) == (422, "idempotency_key_reused")
            assert len(await other.claim_suite(10)) == 4
        async with Client(stack.url, ana) as worker:
            async def paid() -> bool:
                ledger = await worker.get("/v1/ledger")
                return ledger["accounts"].get("EUR", {}).get("credited", 0) == 48 * REWARD

            await until("48 credits", paid)

    asyncio.run(scenario())


@pytest.mark.timeout(HANG_GUARD_S)
def test_fifty_workers_suites_of_twenty_claim_every_assignment_exactly_once(stack: Stack):
    async def scenario() -> None:
        tag = uuid.uuid4().hex[:6]
        _, workers, posted = await market(stack, tag, 2, 500, 50, assignments=2)
        got: dict[int, list[dict]] = {k: [] for k in range(len(workers))}

        async def work(k: int, client: Client) -> None:
            empty = 0
            while empty < 3 and sum(map(len, got.values())) < 2 * len(posted):
                claims = await client.claim_suite(20)
                assert len(claims) <= 20
                got[k] += claims
                empty = 0 if claims else empty + 1
                if not claims:
                    await asyncio.sleep(1.0)  # the views catch up with the releases

        clients = [Client(stack.url, t, retries=PATIENT_RETRIES, timeout=120) for t in workers]
        for c in clients:
            await c.__aenter__()
        try:
            await asyncio.gather(*(work(k, c) for k, c in enumerate(clients)))
        finally:
            for c in clients:
                await c.close()
        every = [c for claims in got.values() for c in claims]
        per_task = Counter(c["task_id"] for c in every)
        print(f"{len(every)} claims by {sum(1 for v in got.values() if v)} workers")
        assert len({c["claim_id"] for c in every}) == len(every)
        assert set(per_task) == set(posted) and set(per_task.values()) == {2}
        for claims in got.values():  # never a task twice for one worker
            assert len({c["task_id"] for c in claims}) == len(claims)

    asyncio.run(scenario())


def test_release_many_puts_the_tasks_back_and_a_group_claim(stack: Stack):
    async def scenario() -> None:
        tag = uuid.uuid4().hex[:6]
        _, (ana, bob), posted = await market(stack, tag, 1, 12, 2)
        db = redis.Redis.from_url(stack.env["PIECEWORK_REDIS"])
        async with Client(stack.url, ana, retries=PATIENT_RETRIES) as worker:
            claims = await worker.claim_suite(10)
            assert len(claims) == 10

            async def gone() -> bool:
                return db.zcard(open_key(tag)) == 2

            await until("the queue without the 10 claimed", gone)
            released = await worker.release_many([c["claim_id"] for c in claims])
            assert released["released"] == 10 and len(released["events"]) == 10

            async def back() -> bool:
                return db.zcard(open_key(tag)) == 12

            await until("the 10 released tasks back in the queue", back)
            again = await worker.release_many([claims[0]["claim_id"]])
            assert again["results"][0]["code"] == "claim_not_live"
        # the group of these tasks (consumers/views/task_groups.py): claim from it by id
        gid = group_id(f"r0{tag}", "survey", REWARD, "EUR", 30, (tag,))

        async def grouped() -> bool:
            return bool(db.exists(meta_key(gid)))

        await until("the task group", grouped)
        async with Client(stack.url, bob, retries=PATIENT_RETRIES) as other:
            from_group = await other.claim_suite(50, group=gid)
            assert {c["task_id"] for c in from_group} == set(posted)
            assert await other.claim_suite(1, group=gid) == []  # nothing left for bob
            with pytest.raises(ApiError) as missing:
                await other.claim_suite(1, group="0123456789abcdef")
            assert (missing.value.status, missing.value.code) == (404, "group_not_found")
        async with Client(stack.url, stack.operator_token) as op:
            stranger = await op.create_actor(f"s{tag}", "worker", [])
        async with Client(stack.url, stranger) as unqualified:
            with pytest.raises(ApiError) as refused:
                await unqualified.claim_suite(1, group=gid)
            assert (refused.value.status, refused.value.code) == (403, "missing_qualification")

    asyncio.run(scenario())


def test_hostile_suite_inputs_are_refused_never_a_500(stack: Stack):
    async def scenario() -> None:
        tag = uuid.uuid4().hex[:6]
        _, (ana, bob), _ = await market(stack, tag, 1, 4, 2)
        async with Client(stack.url, bob, retries=PATIENT_RETRIES) as other:
            foreign = (await other.claim_suite(1))[0]["claim_id"]
        async with Client(stack.url, ana, retries=PATIENT_RETRIES) as worker:
            mine = (await worker.claim_suite(1))[0]["claim_id"]
        headers = {"Authorization": f"Bearer {ana}"}
        cases: list[tuple[str, Any, int]] = [
            ("/v1/claims", {"count": 0}, 422), ("/v1/claims", {"count": 51}, 422),
            ("/v1/claims", {"count": "abc"}, 422), ("/v1/claims", {"count": True}, 422),
            ("/v1/claims", {"count": 1.5}, 422), ("/v1/claims", [], 422),
            ("/v1/claims", {"count": 2, "extra": 1}, 422),
            ("/v1/claims", {"group": "no spaces allowed"}, 422),
            ("/v1/claims", {"group": "x" * 5000}, 422),
            ("/v1/submissions", {"items": []}, 422),
            ("/v1/submissions", {"items": [{"claim_id": mine, "answer": 1}] * 51}, 413),
            ("/v1/submissions", {"items": [{"claim_id": f"x{i}", "answer": 1}
                                           for i in range(20_000)]}, 413),
            ("/v1/submissions", {"items": [{"claim_id": mine, "answer": 1}] * 2}, 422),
            ("/v1/submissions", {"items": [{"claim_id": mine, "answer": None}]}, 422),
            ("/v1/submissions", {"items": [{"claim_id": mine,
                                            "answer": "a" * 300_000}]}, 413),
            ("/v1/submissions", {"items": [{"claim_id": f"{mine[:-1]}{i}",
                                            "answer": "a" * 200_000} for i in range(6)]},
             413),  # each answer fits, the command does not
            ("/v1/claims/release", {"claim_ids": [mine] * 2}, 422),
            ("/v1/claims/release", {"claim_ids": [f"c{i}" for i in range(51)]}, 413),
            ("/v1/claims/release", {"claim_ids": "abc"}, 422),
            ("/v1/claims/release", {"claim_ids": [""]}, 422),
        ]
        async with aiohttp.ClientSession() as http:
            for path, body, status in cases:
                async with http.post(stack.url + path, json=body, headers=headers) as r:
                    answer = await r.json(content_type=None)
                    assert r.status == status, (path, str(body)[:80], r.status, answer)
                    assert set(answer) == {"code", "message"}
            # every 2xx answer is the one the OpenAPI document describes
            spec = document()
            async with http.post(stack.url + "/v1/claims", json={"count": 1},
                                 headers=headers) as r:  # fmt: skip
                suite = await r.json()
                assert r.status == 201, suite
                assert not errors(answer_validator(spec, "POST", "/v1/claims", 201), suite)
            other = suite["claims"][0]["claim_id"]
            body = {"items": [{"claim_id": other, "answer": "x"},
                              {"claim_id": foreign, "answer": "y"}]}
            async with http.post(stack.url + "/v1/submissions", json=body,
                                 headers=headers) as r:  # fmt: skip
                answer = await r.json()
                assert r.status == 200, answer
                assert not errors(answer_validator(spec, "POST", "/v1/submissions", 200), answer)
                assert [x["code"] for x in answer["results"]] == [None, "forbidden"]
            body = {"claim_ids": [foreign, "garbage", f"{mine[:-2]}c7", mine]}
            async with http.post(stack.url + "/v1/claims/release", json=body,
                                 headers=headers) as r:  # fmt: skip
                answer = await r.json()
                assert r.status == 200, answer
                assert not errors(answer_validator(spec, "POST", "/v1/claims/release", 200),
                                  answer)  # fmt: skip
                assert [x["code"] for x in answer["results"]] == [
                    "forbidden", "not_found", "claim_not_live", None]
            as_json = {**headers, "Content-Type": "application/json"}
            async with http.post(stack.url + "/v1/claims", data=b"not json",
                                 headers=as_json) as r:  # fmt: skip
                assert r.status == 400
            async with http.post(stack.url + "/v1/claims", data=b"{}",
                                 headers={**headers, "Content-Type": "text/plain"}) as r:
                assert r.status == 415
            # no body at all: the single claim-next, as it always was
            async with http.post(stack.url + "/v1/claims", headers=headers) as r:
                assert r.status in (201, 204)
                if r.status == 201:
                    assert "claim_id" in await r.json() and "claims" not in await r.json()

    asyncio.run(scenario())
