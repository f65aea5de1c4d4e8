"""Webhooks: event-to-webhook latency at a stated event rate, against event-to-view latency
measured in the same run.

A full stack with the webhooks role. R requesters, each with one webhook to a loopback
receiver, make deposits through the API at a fixed offered rate (open loop): each deposit
is one FundsDeposited event in its requester's feed. Two helper processes time every
event from its instant (`occurred_at`, stamped by the processor):
- the receiver: when its webhook delivery arrives (event-to-webhook);
- the watcher: when it is readable in the feed view, woken by the same pub/sub message
  the sender waits on (event-to-view, the floor any feed reader can reach).
The difference is the sender's own cost: reading the feed, signing, the HTTP round trip,
recording the delivery.

    .venv/bin/python -m bench.webhooks [--quick] [--rate 1000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from contextlib import nullcontext
from typing import Any

from bench.common import (
    CpuMeter,
    actors,
    bench_stack,
    console,
    quantiles_ms,
    tag,
    wait_processor,
)
from testkit.stack_processes import free_port

ROLES = ("processor", "api", "views", "timers", "webhooks")
ENV = {"PIECEWORK_WEBHOOK_ALLOW_PRIVATE": "1"}  # the receiver is on 127.0.0.1
RATE, SECONDS, REQUESTERS = 1_000, 20, 20
DRAIN_S = 120  # after the load, how long deliveries may take to catch up


def _now_ms() -> float:
    return time.time_ns() / 1e6


# --- helper processes: they print {event id: [instant, seen]} when stdin closes -------


async def _receiver(port: int) -> dict[str, list[float]]:
    from aiohttp import web

    seen: dict[str, list[float]] = {}

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        arrived = _now_ms()
        data = json.loads(body)["data"]
        seen.setdefault(data["id"], [data["at"], arrived])
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook/{n}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()
    return seen


async def _watcher(url: str, partitions: int, owners: list[str]) -> dict[str, list[float]]:
    from redis.asyncio import Redis

    from consumers.views.feed import feed_base, partition_key

    redis = Redis.from_url(url, decode_responses=True)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    channels = {feed_base(o): o for o in owners}
    await pubsub.subscribe(*channels)
    last = {(o, p): -1.0 for o in owners for p in range(partitions)}
    seen: dict[str, list[float]] = {}
    print("ready", flush=True)
    stdin_closed = asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    while not stdin_closed.done():
        message = await pubsub.get_message(timeout=0.5)
        if message is None or message["type"] != "message":
            continue
        owner = channels[message["channel"]]
        pipe = redis.pipeline(transaction=False)
        for p in range(partitions):
            pipe.zrangebyscore(partition_key(owner, p), f"({last[owner, p]:.0f}", "+inf",
                               withscores=True)  # fmt: skip
        rows = await pipe.execute()
        arrived = _now_ms()
        for p, members in enumerate(rows):
            for member, score in members:
                at, _, text = member.partition("|")
                seen.setdefault(json.loads(text)["id"], [int(at), arrived])
                last[owner, p] = max(last[owner, p], score)
    await pubsub.aclose()
    await redis.aclose()
    return seen


def _helper(args: list[str]) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "bench.webhooks", *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _collect(proc: subprocess.Popen) -> dict[str, list[float]]:
    out, _ = proc.communicate(timeout=60)
    return json.loads(out)


# --- the run ---------------------------------------------------------------------------


async def _load(url: str, tokens: list[str], rate: float, seconds: float
                ) -> tuple[float, float, int, int]:  # fmt: skip
    """Deposits at `rate` per second over every requester, for `seconds`; returns
    (start ms, end ms, accepted, refused)."""
    from broker.client import Client

    clients = [Client(url, t, retries=3, timeout=30) for t in tokens]
    for c in clients:
        await c.__aenter__()
    counts = {"ok": 0, "failed": 0}

    async def one(client: Client, amount: int) -> None:
        try:
            await client.deposit(amount, "EUR")
            counts["ok"] += 1
        except Exception:
            counts["failed"] += 1

    started = _now_ms()
    begun = time.perf_counter()
    pending = set()
    total = int(rate * seconds)
    try:
        for i in range(total):
            delay = begun + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(clients[i % len(clients)], 1_000 + i))
            pending.add(task)
            task.add_done_callback(pending.discard)
        ended = _now_ms()
        await asyncio.gather(*pending)
    finally:
        for c in clients:
            await c.__aexit__(None, None, None)
    return started, ended, counts["ok"], counts["failed"]


def _latencies(seen: dict[str, list[float]], since: float, ids: set[str] | None = None
               ) -> dict[str, float]:  # fmt: skip
    samples = [(arrived - at) / 1000 for i, (at, arrived) in seen.items()
               if at >= since and (ids is None or i in ids)]  # fmt: skip
    return quantiles_ms(samples)


def run(quick: bool = False, stack: Any = None, rate: float | None = None,
        seconds: float | None = None, requesters: int = REQUESTERS) -> dict[str, Any]:  # fmt: skip
    rate = rate or (300 if quick else RATE)
    seconds = seconds or (5 if quick else SECONDS)
    # A shared stack without the webhooks role cannot serve: this bench brings its own.
    own = stack is None or "webhooks" not in stack.processes
    with bench_stack(ROLES, **ENV) if own else nullcontext(stack) as st:
        asyncio.run(wait_processor(st.url, st.operator_token))
        prefix = tag()
        tokens, _ = asyncio.run(actors(st.url, st.operator_token, requesters, 0, prefix=prefix))
        owners = [f"r{prefix}{i}" for i in range(requesters)]
        port = free_port()
        receiver = _helper(["--receiver", str(port)])
        partitions = int(st.env["PIECEWORK_PARTITIONS"])
        watcher = _helper(["--watcher", st.env["PIECEWORK_REDIS"], str(partitions), *owners])
        try:
            hooks = asyncio.run(_subscribe(st.url, tokens, port))
            time.sleep(2)  # the sender looks for new webhooks every second
            pids = {role: p.pid for role, p in st.processes.items()}
            pids.update({"bench load": os.getpid(), "receiver": receiver.pid,
                         "watcher": watcher.pid})  # fmt: skip
            with CpuMeter(pids) as cpu:
                started, ended, accepted, refused = asyncio.run(
                    _load(st.url, tokens, rate, seconds))
            drained = _drain(st, dict(zip(hooks, owners, strict=True)), accepted + requesters)
        finally:
            delivered, viewed = _collect(receiver), _collect(watcher)
    both = {i for i, (at, _) in delivered.items() if at >= started} & set(viewed)
    result = {
        "offered_events_s": rate, "seconds": seconds, "requesters": requesters,
        "accepted": accepted, "refused": refused,
        "achieved_events_s": accepted / ((ended - started) / 1000),
        "delivered": sum(1 for at, _ in delivered.values() if at >= started),
        "drain_s": drained,
        "event_to_webhook_ms": _latencies(delivered, started, both),
        "event_to_view_ms": _latencies(viewed, started, both),
        "cpu": cpu.summary(accepted),
        "load_avg": os.getloadavg(),
    }  # fmt: skip
    w, v = result["event_to_webhook_ms"], result["event_to_view_ms"]
    console.print(f"  webhooks at {result['achieved_events_s']:,.0f} events/s: event-to-webhook"
                  f" p50 {w['p50']:.0f} ms p99 {w['p99']:.0f} ms; event-to-view p50"
                  f" {v['p50']:.0f} ms p99 {v['p99']:.0f} ms")  # fmt: skip
    return result


async def _subscribe(url: str, tokens: list[str], port: int) -> list[str]:
    import aiohttp

    made = []
    async with aiohttp.ClientSession() as session:
        for i, token in enumerate(tokens):
            async with session.post(f"{url}/v1/webhooks", json={
                    "url": f"http://127.0.0.1:{port}/hook/{i}"},
                    headers={"Authorization": f"Bearer {token}"}) as response:  # fmt: skip
                assert response.status == 201, await response.text()
                made.append((await response.json())["webhook_id"])
    return made


def _drain(st: Any, owner_of: dict[str, str], events: int) -> float:
    """Seconds after the load until the feeds hold `events` events and every webhook's
    cursor has reached the end of its owner's feed."""
    from consumers.queries.feed import latest_cursor
    from consumers.stores.redis_store import RedisStore
    from consumers.views.feed import partition_key

    views = RedisStore.from_url(st.env["PIECEWORK_REDIS"])
    partitions = int(st.env["PIECEWORK_PARTITIONS"])
    began = time.monotonic()
    while time.monotonic() - began < DRAIN_S:
        held = sum(views.zcard_many([partition_key(o, p) for o in owner_of.values()
                                     for p in range(partitions)]))  # fmt: skip
        behind = [h for h, o in owner_of.items()
                  if views.client.hget(f"pw:webhooks:hook:{h}", "cursor")
                  != latest_cursor(views, o, partitions)]  # fmt: skip
        if held >= events and not behind:
            break
        time.sleep(0.2)
    return time.monotonic() - began


def section(r: dict[str, Any]) -> str:
    """The BENCHMARKS.md section of one run."""
    if "error" in r:
        return f"## Webhooks\n\nFailed: {r['error']}\n"
    w, v = r["event_to_webhook_ms"], r["event_to_view_ms"]
    cpu = ", ".join(f"{k} {x['cores']:.2f}" for k, x in r["cpu"].items())
    return (
        "## Webhooks (`python -m bench.webhooks`)\n\n"
        f"{r['offered_events_s']:,} deposits/s offered for {r['seconds']} s by"
        f" {r['requesters']} requesters, each with a webhook to a loopback receiver: "
        f"{r['achieved_events_s']:,.0f} events/s achieved, {r['delivered']:,} delivered.\n\n"
        "| from the event's instant to | p50 | p90 | p99 | max | n |\n|---|---|---|---|---|---|\n"
        f"| its webhook delivery | {w['p50']:.0f} ms | {w['p90']:.0f} ms | {w['p99']:.0f} ms |"
        f" {w['max']:.0f} ms | {w['n']:,} |\n"
        f"| its place in the feed view (reference) | {v['p50']:.0f} ms | {v['p90']:.0f} ms |"
        f" {v['p99']:.0f} ms | {v['max']:.0f} ms | {v['n']:,} |\n\n"
        f"Cores busy on average: {cpu}; load average after the run"
        f" {r['load_avg'][0]:.1f}.\n"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rate", type=float)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--requesters", type=int, default=REQUESTERS,
                        help="webhooks (one per requester) sharing the rate")
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--watcher", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        print(json.dumps(asyncio.run(_receiver(args.receiver))))
    elif args.watcher:
        url, partitions, *owners = args.watcher
        print(json.dumps(asyncio.run(_watcher(url, int(partitions), owners))))
    else:
        result = run(args.quick, rate=args.rate, seconds=args.seconds,
                     requesters=args.requesters)
        console.print(result)
        console.print(section(result))
