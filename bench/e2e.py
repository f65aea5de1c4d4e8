"""(b) End to end: tasks per second from post to the money in the ledger view.

A full stack (processor, api, views, timers as subprocesses). Requesters post N tasks in
batches of 1,000; C workers loop claim_next -> submit; approvers approve each submission
as it arrives; the clock stops when the ledger view (Redis) shows every worker credited
with every reward, i.e. the approval, the outbox CreditWorker, WorkerCredited and the
views' fold of it are all done (views lag drained for this work).

    .venv/bin/python -m bench.e2e [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from contextlib import nullcontext
from typing import Any

from bench.claims import _claim_commands
from bench.common import (
    CpuMeter,
    actors,
    bench_stack,
    console,
    progress,
    quantiles_ms,
    ratio,
    redis_url,
    tag,
    task_spec,
    wait_processor,
)

TARGET_TASKS_S = 5_000
QUALIFICATION = "e2e"
REWARD = task_spec(0)["reward"]
ROLES = ("processor", "api", "views", "timers")


async def _flow(url: str, op: str, tasks: int, workers: int, requesters: int,
                approvers: int) -> dict[str, Any]:  # fmt: skip
    import redis.asyncio as aioredis

    from broker.client import Client
    from consumers.views.ledger import worker_key
    from schemas.ids import requester_of_task

    prefix = tag()
    req_tokens, wrk_tokens = await actors(url, op, requesters, workers, prefix=prefix,
                                          qualification=QUALIFICATION)  # fmt: skip
    worker_ids = [f"w{prefix}{i}" for i in range(workers)]
    req_clients = {f"r{prefix}{i}": Client(url, t, timeout=60) for i, t in enumerate(req_tokens)}
    wrk_clients = [Client(url, t, timeout=60) for t in wrk_tokens]
    for c in [*req_clients.values(), *wrk_clients]:
        await c.__aenter__()
    db = aioredis.Redis.from_url(redis_url(), decode_responses=True)
    to_approve: asyncio.Queue[str | None] = asyncio.Queue()
    stamps: dict[str, float] = {}
    claim_s: list[float] = []
    counts = {"claimed": 0, "approved": 0, "empty": 0, "posted": 0}
    batch = 100
    body = [task_spec(i, QUALIFICATION) for i in range(batch)]

    async def post(r: int) -> None:
        client = list(req_clients.values())[r]
        for b in range(r, tasks // batch, requesters):
            reply = await client.post_batch(f"e2e{b}", body)
            counts["posted"] += len(reply["task_ids"])
        stamps["posted"] = time.perf_counter()

    async def work(client: Client) -> None:
        while counts["claimed"] < tasks:
            sent = time.perf_counter()
            claim = await client.claim_next()
            if claim is None:
                counts["empty"] += 1
                await asyncio.sleep(0.02)
                continue
            claim_s.append(time.perf_counter() - sent)
            counts["claimed"] += 1
            sub = await client.submit(claim["claim_id"], {"label": "cat"})
            await to_approve.put(sub["submission_id"])

    async def approve(bar_advance: Any) -> None:
        while True:
            sid = await to_approve.get()
            if sid is None:
                return
            await req_clients[requester_of_task(sid)].approve(sid)
            counts["approved"] += 1
            bar_advance()

    async def credited() -> int:
        pipe = db.pipeline(transaction=False)
        for w in worker_ids:
            pipe.hget(worker_key(w, "EUR"), "credited")
        return sum(int(v or 0) for v in await pipe.execute())

    commands_before = _claim_commands(wrk_clients[0].base_url)
    with progress() as bar:
        job = bar.add_task("e2e approved", total=tasks)
        started = time.perf_counter()
        posters = [asyncio.create_task(post(r)) for r in range(requesters)]
        workers_done = asyncio.gather(*(work(c) for c in wrk_clients))
        approving = [asyncio.create_task(approve(lambda: bar.advance(job)))
                     for _ in range(approvers)]  # fmt: skip
        await asyncio.gather(*posters)
        await workers_done
        stamps["claimed"] = time.perf_counter()
        for _ in approving:
            await to_approve.put(None)
        await asyncio.gather(*approving)
        stamps["approved"] = time.perf_counter()
        want = REWARD * counts["claimed"]
        while await credited() < want:
            await asyncio.sleep(0.05)
        stamps["ledger"] = time.perf_counter()
    claim_commands = _claim_commands(wrk_clients[0].base_url) - commands_before
    for c in [*req_clients.values(), *wrk_clients]:
        await c.close()
    await db.aclose()
    n = counts["claimed"]
    total = stamps["ledger"] - started
    return {
        "tasks": n, "seconds": total, "tasks_s": n / total,
        "stages_s": {k: v - started for k, v in stamps.items()},
        "ledger_lag_after_last_approval_ms": (stamps["ledger"] - stamps["approved"]) * 1000,
        # ClaimTask commands the API sent per successful claim (from its /metrics)
        "claim_attempts_mean": claim_commands / n if n else float("nan"),
        "empty_claims": counts["empty"],
        "claim_ms": quantiles_ms(claim_s),
        "http_requests_per_task": 3 + counts["empty"] / max(n, 1),
        "workers": workers, "requesters": requesters, "approvers": approvers,
    }  # fmt: skip


def run(quick: bool = False, stack: Any = None) -> dict[str, Any]:
    # Enough work in flight to saturate the stack: throughput is then bound by CPU, and
    # the CPU per task of each process says where the ceiling is.
    tasks, workers = (400, 64) if quick else (3_000, 128)
    with nullcontext(stack) if stack else bench_stack(ROLES) as st:
        asyncio.run(wait_processor(st.url, st.operator_token))
        pids = {role: p.pid for role, p in st.processes.items()}
        pids["bench client"] = os.getpid()
        with CpuMeter(pids) as cpu:
            result = asyncio.run(_flow(st.url, st.operator_token, tasks, workers=workers,
                                       requesters=4, approvers=workers // 2))  # fmt: skip
    result["cpu"] = cpu.summary(result["tasks"])
    stack_ms = sum(v["ms_per_1k"] for k, v in result["cpu"].items()
                   if k not in ("bench client", "other processes")) / 1_000  # fmt: skip
    # Two cores divided by the stack's CPU per task: what this machine could do at best.
    result["cpu_ms_per_task_stack"] = stack_ms
    result["cpu_ceiling_tasks_s"] = 2_000 / stack_ms if stack_ms else None
    result["target_tasks_s"] = TARGET_TASKS_S
    result["ratios"] = {"piecework / target": ratio(result["tasks_s"], TARGET_TASKS_S)}
    console.print(f"  e2e {result['tasks_s']:,.0f} tasks/s fully processed")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    console.print(run(parser.parse_args().quick))
