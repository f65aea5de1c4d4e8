"""(e) The peer: a plain Redis-list work queue (the lock-in-Redis design of PyBossa & co).

LPUSH the tasks on a pending list; a worker claims with LMOVE pending -> processing
(the atomic BRPOPLPUSH of old) and acknowledges with LREM processing. Same task bytes
(an encoded TaskSpec), same concurrency and the same open-loop schedule as piecework's
claim bench (c). Workers talk to Redis directly (redis.asyncio): no HTTP, no auth.

What it does NOT give, and piecework does: no log (a claim or ack leaves no trace), no
audit or replay (the lists are the only state; a crash between LMOVE and LREM leaves a
task in `processing` that a reaper must guess about), no money (no escrow, no
exactly-once payment, no conservation check), no per-worker "never the same task
twice", no qualifications, no leases (only what a reaper adds).

    .venv/bin/python -m bench.peer [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.common import console, progress, quantiles_ms, redis_url, tag

RATE = 200.0


async def _fill(db: Any, key: str, items: list[bytes]) -> None:
    for i in range(0, len(items), 1_000):
        await db.lpush(key, *items[i : i + 1_000])


async def _closed_loop(db: Any, pending: str, processing: str, concurrency: int) -> dict:
    lat: list[float] = []
    done = 0

    async def worker() -> None:
        nonlocal done
        while True:
            sent = time.perf_counter()
            item = await db.lmove(pending, processing, "RIGHT", "LEFT")
            if item is None:
                return
            lat.append(time.perf_counter() - sent)
            await db.lrem(processing, 1, item)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"tasks": done, "concurrency": concurrency, "seconds": elapsed,
            "tasks_s": done / elapsed, "claim_ms": quantiles_ms(lat)}  # fmt: skip


async def _open_loop(db: Any, pending: str, processing: str, rate: float,
                     seconds: float) -> dict:  # fmt: skip
    total = int(rate * seconds)
    lat: list[float] = []
    claimed = 0
    tasks: set[asyncio.Task] = set()

    async def one(scheduled: float) -> None:
        nonlocal claimed
        item = await db.lmove(pending, processing, "RIGHT", "LEFT")
        lat.append(time.perf_counter() - scheduled)
        if item is not None:
            claimed += 1
            await db.lrem(processing, 1, item)

    with progress() as bar:
        job = bar.add_task("peer claims @200/s", total=total)
        t0 = time.perf_counter() + 0.05
        for i in range(total):
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            t = asyncio.create_task(one(scheduled))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
            bar.advance(job)
        if tasks:
            await asyncio.wait(tasks)
    return {**quantiles_ms(lat), "offered_per_s": rate, "claimed": claimed}


async def _bench(tasks: int, concurrency: int, seconds: float) -> dict[str, Any]:
    import redis.asyncio as aioredis

    from bench.ingest import _records

    db = aioredis.Redis.from_url(redis_url(), max_connections=concurrency + 64)
    prefix = f"bench:peer:{tag()}"
    pending, processing = f"{prefix}:pending", f"{prefix}:processing"
    payloads = _records(1_000)
    try:
        await _fill(db, pending, [payloads[i % 1_000] for i in range(tasks)])
        closed = await _closed_loop(db, pending, processing, concurrency)
        await _fill(db, pending, [payloads[i % 1_000] for i in range(int(RATE * seconds) + 10)])
        open_loop = await _open_loop(db, pending, processing, RATE, seconds)
    finally:
        await db.delete(pending, processing)
        await db.aclose()
    return {"closed_loop": closed, "open_loop": open_loop}


def run(quick: bool = False, tasks: int | None = None, concurrency: int = 32,
        seconds: float | None = None) -> dict[str, Any]:  # fmt: skip
    tasks = tasks or (2_000 if quick else 20_000)
    seconds = seconds or (3.0 if quick else 12.0)
    result = asyncio.run(_bench(tasks, concurrency, seconds))
    c, o = result["closed_loop"], result["open_loop"]
    console.print(f"  peer: {c['tasks_s']:,.0f} claim+ack/s at {concurrency}; @200/s p50 "
                  f"{o['p50']:.2f} ms p99 {o['p99']:.2f} ms")  # fmt: skip
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    console.print(run(parser.parse_args().quick))
