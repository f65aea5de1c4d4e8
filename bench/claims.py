"""(c) Claim latency of POST /v1/claims, and claim + submit throughput.

Phases, on one full stack, after posting enough open tasks and waiting until the queue
view holds them all:
- floor: one worker, closed loop: the latency of a claim nobody competes for;
- open loop at a fixed offered load (200 claims/s): request i is scheduled at
  t0 + i/rate and sent then whatever happened to the earlier ones; its latency is
  measured from the *scheduled* time (no coordinated omission). Requests still open
  when the drain deadline passes count as lost (their latency is at least that);
- closed loop: C workers claim then submit M tasks as fast as they can (the figure the
  Redis-list peer is compared with).

    .venv/bin/python -m bench.claims [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from bench.common import (
    CpuMeter,
    actors,
    bench_stack,
    console,
    progress,
    pyspy_finish,
    pyspy_start,
    quantiles_ms,
    ratio,
    redis_url,
    tag,
    task_spec,
    wait_processor,
)

TARGET_P99_MS = 50.0
RATE = 200.0
ROLES = ("processor", "api", "views", "timers")
DRAIN_S = 30.0


async def _post_open(url: str, token: str, n: int, qualification: str) -> None:
    from broker.client import Client

    async with Client(url, token, timeout=120) as r:
        for b in range(0, n, 1_000):
            await r.post_batch(f"lat{b}", [task_spec(i, qualification)
                                           for i in range(min(1_000, n - b))])  # fmt: skip


async def _queue_holds(qualification: str, n: int, timeout: float = 120) -> None:
    import redis.asyncio as aioredis

    from consumers.views.queue import open_key

    db = aioredis.Redis.from_url(redis_url())
    deadline = time.monotonic() + timeout
    while await db.zcard(open_key(qualification)) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"queue view holds fewer than {n} {qualification} tasks")
        await asyncio.sleep(0.1)
    await db.aclose()


def _claim_commands(base_url: str) -> float:
    """ClaimTask commands the API has sent so far, from its own /metrics."""
    import urllib.request

    text = urllib.request.urlopen(f"{base_url}/metrics", timeout=10).read().decode()
    prefix = 'piecework_command_latency_seconds_count{type="ClaimTask"}'
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


async def _floor(clients: list[Any], n: int) -> dict[str, Any]:
    lat = []
    for _ in range(n):
        sent = time.perf_counter()
        await clients[0].claim_next()
        lat.append(time.perf_counter() - sent)
    return quantiles_ms(lat)


async def _open_loop(clients: list[Any], rate: float, seconds: float,
                     label: str) -> dict[str, Any]:  # fmt: skip
    from broker.client import ApiError

    total = int(rate * seconds)
    lat: list[float] = []
    outcome = {"claimed": 0, "empty": 0, "error": 0, "lost": 0}
    codes: dict[str, int] = {}
    commands_before = _claim_commands(clients[0].base_url)
    pending: set[asyncio.Task] = set()

    async def one(i: int, scheduled: float) -> None:
        try:
            claim = await clients[i % len(clients)].claim_next()
            outcome["claimed" if claim else "empty"] += 1
        except ApiError as exc:
            outcome["error"] += 1
            codes[exc.code] = codes.get(exc.code, 0) + 1
        except (OSError, TimeoutError) as exc:
            outcome["error"] += 1
            codes[type(exc).__name__] = codes.get(type(exc).__name__, 0) + 1
        lat.append(time.perf_counter() - scheduled)

    with progress() as bar:
        job = bar.add_task(label, total=total)
        t0 = time.perf_counter() + 0.1
        for i in range(total):
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(i, scheduled))
            pending.add(task)
            task.add_done_callback(pending.discard)
            bar.advance(job)
        send_lag = time.perf_counter() - (t0 + (total - 1) / rate)
        _done, still = await asyncio.wait(pending, timeout=DRAIN_S) if pending else ((), ())
    for task in still:
        task.cancel()
    outcome["lost"] = len(still)
    commands = _claim_commands(clients[0].base_url) - commands_before
    q = quantiles_ms(lat + [DRAIN_S + seconds] * len(still))
    return {**q, "offered_per_s": rate, "requests": total, "outcome": outcome,
            "achieved_claims_s": outcome["claimed"] / (seconds + max(0.0, send_lag)),
            # claim commands the API sent per successful claim (lost races cost one each)
            "attempts_mean": commands / outcome["claimed"] if outcome["claimed"] else float("nan"),
            "send_lag_ms": send_lag * 1000, "error_codes": codes}  # fmt: skip


async def _closed_loop(clients: list[Any], tasks: int) -> dict[str, Any]:
    lat: list[float] = []
    counts = {"done": 0, "empty": 0}

    async def work(client: Any) -> None:
        while counts["done"] < tasks:
            sent = time.perf_counter()
            claim = await client.claim_next()
            if claim is None:
                counts["empty"] += 1
                continue
            lat.append(time.perf_counter() - sent)
            counts["done"] += 1
            await client.submit(claim["claim_id"], {"label": "cat"})

    started = time.perf_counter()
    await asyncio.gather(*(work(c) for c in clients))
    elapsed = time.perf_counter() - started
    return {"tasks": counts["done"], "concurrency": len(clients), "seconds": elapsed,
            "tasks_s": counts["done"] / elapsed, "empty_claims": counts["empty"],
            "claim_ms": quantiles_ms(lat)}  # fmt: skip


async def _bench(st: Any, quick: bool, profile: bool) -> dict[str, Any]:
    from broker.client import Client

    seconds = 3.0 if quick else 12.0
    closed_tasks = 100 if quick else 400
    concurrency = 32
    open_tasks = int(RATE * seconds * 1.2) + closed_tasks + 500
    if profile:
        open_tasks += int(RATE * 8 * 1.2)
    quals = f"lat{tag()}"
    req, wrk = await actors(st.url, st.operator_token, 1, 100, qualification=quals)
    await _post_open(st.url, req[0], open_tasks, quals)
    await _queue_holds(quals, open_tasks)
    clients = [Client(st.url, t, retries=0, timeout=DRAIN_S) for t in wrk]
    for c in clients:
        await c.__aenter__()
    try:
        floor = await _floor(clients, 20 if quick else 60)
        pids = {role: p.pid for role, p in st.processes.items()}
        pids["bench client"] = os.getpid()
        with CpuMeter(pids) as cpu:
            open_loop = await _open_loop(clients, RATE, seconds, "claims @200/s")
        open_loop["cpu"] = cpu.summary(max(1, open_loop["outcome"]["claimed"]))
        closed = await _closed_loop(clients[:concurrency], closed_tasks)
        result: dict[str, Any] = {"floor_ms": floor, "open_loop": open_loop,
                                  "closed_loop": closed}  # fmt: skip
        if profile:
            out = Path(st.log_dir) / "api-claims.pyspy.txt"
            proc_out = Path(st.log_dir) / "processor-claims.pyspy.txt"
            spy = pyspy_start(pids["api"], 8, out)
            proc_spy = pyspy_start(pids["processor"], 8, proc_out)
            await _open_loop(clients, RATE, 8, "profiling @200/s")
            result["profile_api"] = pyspy_finish(spy, out)
            result["profile_processor_claims"] = pyspy_finish(proc_spy, proc_out)
    finally:
        for c in clients:
            await c.close()
    return result


def run(quick: bool = False, stack: Any = None, profile: bool = True) -> dict[str, Any]:
    with nullcontext(stack) if stack else bench_stack(ROLES) as st:
        asyncio.run(wait_processor(st.url, st.operator_token))
        result = asyncio.run(_bench(st, quick, profile))
    result["target_p99_ms"] = TARGET_P99_MS
    result["ratios"] = {
        "p99 / target": ratio(result["open_loop"]["p99"], TARGET_P99_MS),
        "achieved / offered claims": ratio(result["open_loop"]["achieved_claims_s"], RATE),
    }
    o = result["open_loop"]
    console.print(f"  claims @200/s: p50 {o['p50']:.0f} ms p99 {o['p99']:.0f} ms; "
                  f"floor p50 {result['floor_ms']['p50']:.0f} ms")  # fmt: skip
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    console.print(run(args.quick, profile=not args.no_profile))
