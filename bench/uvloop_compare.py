"""uvloop against asyncio's own loop, old beside new in one run (issue 14, docs/DESIGN.md).

Each round starts a full stack with PIECEWORK_EVENT_LOOP set to one loop (the API, views
and webhook roles run on it; the processor and timers are threads) and measures:
- the views' CPU per task while a requester posts N tasks, until the queue view holds
  them all (the views fold every TaskPosted on the loop);
- the API under reads: GET /v1/tasks/{id} from 32 concurrent clients, a closed loop
  (requests/s and the API's CPU per request);
- the API under claims: the open loop of bench.claims at 200/s (p50/p99, the API's and
  the processor's CPU per claim).
Rounds alternate asyncio, uvloop, asyncio, uvloop...; the figures are medians per loop.
CPU per unit is the figure to trust on a shared machine; latency and rates move with load.

    .venv/bin/python -m bench.uvloop_compare [--quick] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

from bench import claims
from bench.common import CpuMeter, actors, bench_stack, console, ratio, tag, wait_processor

LOOPS = ("asyncio", "uvloop")
ROLES = ("processor", "api", "views", "timers")
READERS = 32


async def _reads(url: str, token: str, task_ids: list[str], total: int) -> float:
    """Requests/s of GET /v1/tasks/{id}, READERS clients, closed loop."""
    from broker.client import Client

    done = 0

    async def reader(client: Any, k: int) -> None:
        nonlocal done
        i = k
        while done < total:
            await client.get(f"/v1/tasks/{task_ids[i % len(task_ids)]}")
            done += 1
            i += READERS

    clients = [Client(url, token, retries=0, timeout=30) for _ in range(READERS)]
    for c in clients:
        await c.__aenter__()
    try:
        started = time.perf_counter()
        await asyncio.gather(*(reader(c, k) for k, c in enumerate(clients)))
        return done / (time.perf_counter() - started)
    finally:
        for c in clients:
            await c.close()


async def _round(st: Any, quick: bool) -> dict[str, Any]:
    from broker.client import Client

    tasks = 2_000 if quick else 12_000
    reads = 1_000 if quick else 6_000
    quals = f"uv{tag()}"
    req, wrk = await actors(st.url, st.operator_token, 1, 40, qualification=quals)
    pids = {role: p.pid for role, p in st.processes.items()}
    with CpuMeter(pids, infra=False) as posting:
        task_ids: list[str] = []
        async with Client(st.url, req[0], timeout=120) as r:
            for b in range(0, tasks, 1_000):
                posted = await r.post_batch(f"uv{b}", [claims.task_spec(i, quals)
                                                      for i in range(min(1_000, tasks - b))])
                task_ids += posted["task_ids"]
        await claims._queue_holds(quals, tasks)
    with CpuMeter(pids, infra=False) as reading:
        reads_s = await _reads(st.url, req[0], task_ids, reads)
    clients = [Client(st.url, t, retries=0, timeout=claims.DRAIN_S) for t in wrk]
    for c in clients:
        await c.__aenter__()
    try:
        with CpuMeter(pids, infra=False) as claiming:
            o = await claims._open_loop(clients, claims.RATE, 3.0 if quick else 10.0,
                                        "claims @200/s")
    finally:
        for c in clients:
            await c.close()
    claimed = max(1, o["outcome"]["claimed"])
    return {
        "views_us_per_task": 1e6 * ratio(posting.spent["views"], tasks),
        "reads_s": reads_s,
        "api_us_per_read": 1e6 * ratio(reading.spent["api"], reads),
        "claim_p50_ms": o["p50"], "claim_p99_ms": o["p99"],
        "api_us_per_claim": 1e6 * ratio(claiming.spent["api"], claimed),
        "processor_us_per_claim": 1e6 * ratio(claiming.spent["processor"], claimed),
        "load_1m": os.getloadavg()[0],
    }


def run(quick: bool = False, rounds: int = 2) -> dict[str, Any]:
    per_loop: dict[str, list[dict[str, Any]]] = {loop: [] for loop in LOOPS}
    for r in range(rounds):
        for loop in LOOPS:
            console.print(f"[bold]uvloop_compare[/]: round {r + 1}/{rounds}, {loop}")
            with bench_stack(ROLES, PIECEWORK_EVENT_LOOP=loop) as st:
                asyncio.run(wait_processor(st.url, st.operator_token))
                per_loop[loop].append(asyncio.run(_round(st, quick)))
    medians = {loop: {k: statistics.median(x[k] for x in runs) for k in runs[0]}
               for loop, runs in per_loop.items()}  # fmt: skip
    a, u = medians["asyncio"], medians["uvloop"]
    result = {"rounds": per_loop, "medians": medians,
              "ratios": {k: ratio(u[k], a[k]) for k in a if k != "load_1m"}}  # fmt: skip
    for k, v in result["ratios"].items():
        console.print(f"  {k}: asyncio {a[k]:,.1f}  uvloop {u[k]:,.1f}  (uvloop/asyncio {v:.2f})")
    return result


def for_run(quick: bool) -> dict[str, Any]:
    return run(quick, rounds=1 if quick else 2)


def section(r: dict[str, Any]) -> str:
    a, u = r["medians"]["asyncio"], r["medians"]["uvloop"]
    rows = [("views CPU per posted task (us)", "views_us_per_task"),
            ("GET /v1/tasks/{id}, 32 clients (requests/s)", "reads_s"),
            ("API CPU per read (us)", "api_us_per_read"),
            ("claim p50 @200/s (ms)", "claim_p50_ms"), ("claim p99 @200/s (ms)", "claim_p99_ms"),
            ("API CPU per claim (us)", "api_us_per_claim"),
            ("processor CPU per claim (us)", "processor_us_per_claim")]
    lines = ["## uvloop against asyncio's loop (API, views)", "",
             "| figure (medians) | asyncio | uvloop | uvloop / asyncio |", "|---|---|---|---|"]
    lines += [f"| {label} | {a[k]:,.1f} | {u[k]:,.1f} | {r['ratios'][k]:.2f} |"
              for label, k in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    run(args.quick, args.rounds)
