"""Bulk review: items/s of one POST /v1/reviews of N items vs N single POST .../approve.

One full stack; 2N submissions are made first (untimed): one requester posts 2N tasks,
workers claim and submit them through the API. Then, in the same run:
- singles: N approvals, one request each, C at a time (C=64: a client as parallel as the
  API lets it be);
- bulk: the other N in POST /v1/reviews requests of up to 1,000 items, one after another
  (all of a requester's submissions are on one partition: one command per request);
- bulk, all refused: the same bulk requests again, every item already approved: what the
  request and the decisions cost without writing events and credits.
Both count items decided per second from the first request sent to the last answer; before
each phase the stack settles (views caught up, every earlier approval credited).

    .venv/bin/python -m bench.reviews [--n 1000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from contextlib import nullcontext
from typing import Any

from bench.common import actors, bench_stack, console, ratio, tag, task_spec, wait_processor

ROLES = ("processor", "api", "views", "timers")
GOAL = 10.0  # bulk items/s over single items/s
CHUNK = 1_000
WORKERS = 16


async def _submissions(url: str, requester: str, workers: list[str], n: int) -> list[str]:
    from broker.client import Client

    async with Client(url, requester, timeout=120) as r:
        tasks: list[str] = []
        for b in range(0, n, 1_000):
            posted = await r.post_batch(f"rv{tag()}", [task_spec(i) for i in
                                                       range(b, min(n, b + 1_000))])  # fmt: skip
            tasks += posted["task_ids"]
    clients = [Client(url, w, timeout=120, retries=10) for w in workers]
    for c in clients:
        await c.__aenter__()
    limiter = asyncio.Semaphore(64)

    async def work(k: int, task_id: str) -> str:
        async with limiter:
            client = clients[k % len(clients)]
            claim = await client.claim(task_id)
            return (await client.submit(claim["claim_id"], {"label": "cat"}))["submission_id"]

    try:
        return list(await asyncio.gather(*(work(k, t) for k, t in enumerate(tasks))))
    finally:
        for c in clients:
            await c.close()


async def _singles(url: str, requester: str, sids: list[str], concurrency: int) -> float:
    from broker.client import Client

    limiter = asyncio.Semaphore(concurrency)
    async with Client(url, requester, timeout=120, retries=10) as r:

        async def one(sid: str) -> None:
            async with limiter:
                await r.approve(sid)

        started = time.perf_counter()
        await asyncio.gather(*(one(s) for s in sids))
        return time.perf_counter() - started


async def _bulk(url: str, requester: str, sids: list[str], refused: bool = False) -> float:
    from broker.client import Client

    async with Client(url, requester, timeout=300, retries=10) as r:
        started = time.perf_counter()
        for k in range(0, len(sids), CHUNK):
            chunk = sids[k : k + CHUNK]
            answer = await r.review([{"submission_id": s, "decision": "approve"} for s in chunk])
            assert answer["refused"] == (len(chunk) if refused else 0), answer
        return time.perf_counter() - started


async def _credited(url: str, workers: list[str]) -> int:
    from broker.client import Client

    total = 0
    for token in workers:
        async with Client(url, token, retries=10) as w:
            ledger = await w.get("/v1/ledger")
        total += ledger["accounts"].get("EUR", {}).get("credited", 0)
    return total


async def _settle(stack: Any, workers: list[str], expected: int, timeout: float = 600) -> None:
    """Until the last phase's work is done: the views have read the whole log and every
    approval so far is credited (its CreditWorker decided and folded), so one phase's
    backlog never slows the next one down."""
    from runtime.settings import Settings
    from testkit.views_kit import views_lag

    settings = Settings.from_env(stack.env)
    deadline = time.monotonic() + timeout
    while await _credited(stack.url, workers) != expected or views_lag(settings) > 0:
        if time.monotonic() > deadline:
            raise TimeoutError("the stack did not settle")
        await asyncio.sleep(0.5)


async def _bench(stack: Any, n: int, concurrency: int) -> dict[str, Any]:
    (requester,), workers = await actors(stack.url, stack.operator_token, 1, WORKERS)
    console.print(f"  making {2 * n} submissions")
    sids = await _submissions(stack.url, requester, workers, 2 * n)
    reward = task_spec(0)["reward"]
    await _settle(stack, workers, 0)
    singles_s = await _singles(stack.url, requester, sids[:n], concurrency)
    await _settle(stack, workers, n * reward)
    bulk_s = await _bulk(stack.url, requester, sids[n:])
    await _settle(stack, workers, 2 * n * reward)
    # the same items again, all refused (not_pending): the request, the command and the
    # decisions without the writes (no events, no credits)
    refused_s = await _bulk(stack.url, requester, sids[n:], refused=True)
    single_rate, bulk_rate = n / singles_s, n / bulk_s
    return {
        "n": n,
        "single_concurrency": concurrency,
        "single": {"seconds": round(singles_s, 3), "items_s": round(single_rate, 1)},
        "bulk": {"seconds": round(bulk_s, 3), "items_s": round(bulk_rate, 1),
                 "requests": -(-n // CHUNK)},
        "bulk_all_refused": {"seconds": round(refused_s, 3),
                             "items_s": round(n / refused_s, 1)},
        "ratio_bulk_over_single": round(ratio(bulk_rate, single_rate), 1),
        "goal_ratio": GOAL,
    }


def run(n: int = 1_000, concurrency: int = 64, stack: Any = None) -> dict[str, Any]:
    with nullcontext(stack) if stack else bench_stack(ROLES) as st:
        asyncio.run(wait_processor(st.url, st.operator_token))
        result = asyncio.run(_bench(st, n, concurrency))
    console.print(f"  reviews: bulk {result['bulk']['items_s']:.0f} items/s, single "
                  f"{result['single']['items_s']:.0f} items/s, x{result['ratio_bulk_over_single']}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000, help="items per side")
    parser.add_argument("--concurrency", type=int, default=64, help="single approvals in flight")
    args = parser.parse_args()
    print(json.dumps(run(args.n, args.concurrency), indent=2))
