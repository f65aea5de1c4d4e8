"""Claim-next under a burst: distinct tasks, few commands, idempotent per Idempotency-Key.

Every worker reads the same head of the queue view. Claim-next rotates that head per
worker and sends one ClaimTask per requester (the others as alternatives), so a burst of
workers neither collides task after task nor pays a Kafka round trip per lost race.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid

import aiohttp
import pytest
import redis

from broker.api.idempotency import claim_memory_key, scoped_command_id
from broker.client import Client
from testkit.stack_processes import HANG_GUARD_S, PATIENCE_S, PATIENT_RETRIES, Stack, probe
from tests.faults.roles import fault_stack


def _spec(i: int, qualification: str) -> dict:
    return {"kind": "image_labelling", "reward": 30_000, "currency": "EUR",
            "estimated_seconds": 15, "qualifications": [qualification],
            "payload": {"i": i}}  # fmt: skip


def _claim_commands(stack: Stack) -> float:
    text = urllib.request.urlopen(f"{stack.url}/metrics", timeout=PATIENCE_S).read().decode()
    prefix = 'piecework_command_latency_seconds_count{type="ClaimTask"}'
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


async def _queue_holds(stack: Stack, qualification: str, n: int) -> None:
    from consumers.views.queue import open_key

    db = redis.Redis.from_url(stack.env["PIECEWORK_REDIS"])
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        if db.zcard(open_key(qualification)) >= n:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the queue view did not hold {n} tasks in {PATIENCE_S:.0f} s")


async def _market(stack: Stack, tag: str, tasks: dict[str, int], workers: int
                  ) -> tuple[list[str], list[str]]:  # fmt: skip
    """Requesters posting `tasks[name]` tasks each, and workers; one qualification.

    Returns the worker tokens and the task ids posted.
    """
    posted: list[str] = []
    async with Client(stack.url, stack.operator_token) as op:
        for name, n in tasks.items():
            token = await op.create_actor(f"{name}{tag}", "requester")
            async with Client(stack.url, token, retries=PATIENT_RETRIES) as requester:
                await requester.deposit(10**10, "EUR")
                batch = await requester.post_batch("b1", [_spec(i, tag) for i in range(n)])
                posted += batch["task_ids"]
        wrk = [await op.create_actor(f"w{tag}{i}", "worker", [tag]) for i in range(workers)]
    await _queue_holds(stack, tag, sum(tasks.values()))
    return wrk, posted


async def _burst(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:6]
    tokens, _ = await _market(stack, tag, {"big": 60, "small": 20}, workers=50)
    # A 503 (no reply within the API's 10 s, a busy machine) is sent again with the same
    # Idempotency-Key: the retry replays the groups already tried, so it ends as the first
    # try would have, and costs no more commands than the claims it replaces.
    clients = [Client(stack.url, t, retries=PATIENT_RETRIES) for t in tokens]
    for c in clients:
        await c.__aenter__()
    try:
        before = _claim_commands(stack)
        claims = await asyncio.gather(*(c.claim_next() for c in clients))
        commands = _claim_commands(stack) - before
    finally:
        for c in clients:
            await c.close()
    got = [c for c in claims if c]
    print(f"{len(got)} of {len(claims)} claimed with {commands:.0f} ClaimTask commands")
    task_ids = [c["task_id"] for c in got]
    assert len(set(task_ids)) == len(task_ids), "a task was handed out twice"
    assert all(c["claim_id"].startswith(c["task_id"] + ":c") for c in got)
    assert len(got) >= 45, f"only {len(got)} of 50 workers found one of 80 tasks"
    # Before groups and rotation this burst cost 659 commands for 50 claims.
    assert commands <= 2 * len(claims), f"{commands} ClaimTask commands for {len(claims)} claims"


async def _idempotent(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:6]
    (token,), posted = await _market(stack, tag, {"solo": 3}, workers=1)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"k-{tag}"}
    async with aiohttp.ClientSession() as http:

        async def claim_next(key_headers: dict) -> dict:
            # A 503 (the processor did not answer in time) says "ask again, same key".
            deadline = time.monotonic() + PATIENCE_S
            while True:
                async with http.post(f"{stack.url}/v1/claims", headers=key_headers) as response:
                    if response.status != 503 or time.monotonic() > deadline:
                        assert response.status == 201, await response.text()
                        return await response.json()
                await asyncio.sleep(0.5)

        first = await claim_next(headers)
        again = await claim_next(headers)
        assert again == first, "a retried claim-next must end as the first try did"
        # A memory written before groups existed (one task id per entry) is still replayed.
        legacy_key = f"legacy-{tag}"
        wanted = next(t for t in posted if t != first["task_id"])
        db = redis.Redis.from_url(stack.env["PIECEWORK_REDIS"])
        base_id = scoped_command_id(f"w{tag}0", "POST", "/v1/claims", {}, (), legacy_key)
        db.rpush(claim_memory_key(base_id), wanted)
        legacy = await claim_next({**headers, "Idempotency-Key": legacy_key})
        assert legacy["task_id"] == wanted and first["task_id"] != wanted


@pytest.mark.timeout(HANG_GUARD_S)
def test_claim_next_burst_and_idempotency(kafka_bootstrap, redis_url, tmp_path) -> None:
    with fault_stack(kafka_bootstrap, redis_url, tmp_path) as stack:
        probe(stack)
        asyncio.run(_burst(stack))
        asyncio.run(_idempotent(stack))
        stack.assert_alive()
