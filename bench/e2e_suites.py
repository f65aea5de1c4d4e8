"""(b') End to end in suites: claim N, submit N, review N, from post to the ledger view.

The single-task mode (bench/e2e.py) pays three HTTP round trips and four Kafka
transactions per task. Here each worker claims a suite of N tasks in one request
(POST /v1/claims {count}), submits them in one (POST /v1/submissions), and approvers
review them in bulk (POST /v1/reviews); the clock stops, as there, when the ledger view
shows every worker credited with every reward. The Redis-list peer runs in the same
process at the same granularity: LMOVE N items in one MULTI, LREM them in another.

    .venv/bin/python -m bench.e2e_suites [--quick] [--suite 20] [--single]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from contextlib import nullcontext
from typing import Any

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
QUALIFICATION = "e2e-suite"
REWARD = task_spec(0)["reward"]
ROLES = ("processor", "api", "views", "timers")
REVIEW_BATCH = 1_000  # POST /v1/reviews takes at most 1,000 items


def _command_latency(base_url: str) -> dict[str, tuple[float, float]]:
    """Per command type, (count, total seconds) the API has waited for replies so far."""
    import urllib.request

    text = urllib.request.urlopen(f"{base_url}/metrics", timeout=10).read().decode()
    found: dict[str, list[float]] = {}
    for line in text.splitlines():
        for part, slot in (("_count{", 0), ("_sum{", 1)):
            if line.startswith(f"piecework_command_latency_seconds{part}type="):
                kind = line.split('type="', 1)[1].split('"', 1)[0]
                found.setdefault(kind, [0.0, 0.0])[slot] += float(line.split()[-1])
    return {k: (v[0], v[1]) for k, v in found.items()}


def _commands_between(before: dict[str, tuple[float, float]],
                      after: dict[str, tuple[float, float]], tasks: int) -> dict[str, Any]:
    """Per command type sent during the run: commands per task and mean reply wait."""
    out = {}
    for kind, (count, total) in after.items():
        n = count - before.get(kind, (0.0, 0.0))[0]
        if n:
            waited = total - before.get(kind, (0.0, 0.0))[1]
            out[kind] = {"per_task": n / max(tasks, 1), "mean_ms": 1000 * waited / n}
    return out


async def _flow(url: str, op: str, tasks: int, workers: int, requesters: int,
                suite: int) -> dict[str, Any]:  # fmt: skip
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
    pending: dict[str, list[str]] = {r: [] for r in req_clients}  # submissions to review
    wake = asyncio.Event()
    stamps: dict[str, float] = {}
    claim_s: list[float] = []
    submit_s: list[float] = []
    counts = {"claimed": 0, "approved": 0, "empty": 0, "requests": 0}
    batch = 1_000
    body = [task_spec(i, QUALIFICATION) for i in range(batch)]

    async def post(r: int) -> None:
        client = list(req_clients.values())[r]
        for b in range(r, tasks // batch, requesters):
            await client.post_batch(f"e2es{b}", body)
        stamps["posted"] = time.perf_counter()

    async def work(client: Client) -> None:
        while counts["claimed"] < tasks:
            sent = time.perf_counter()
            claims = await client.claim_suite(suite)
            counts["requests"] += 1
            if not claims:
                counts["empty"] += 1
                await asyncio.sleep(0.02)
                continue
            claim_s.append(time.perf_counter() - sent)
            counts["claimed"] += len(claims)
            sent = time.perf_counter()
            done = await client.submit_many([{"claim_id": c["claim_id"], "answer": {"l": "cat"}}
                                             for c in claims])  # fmt: skip
            counts["requests"] += 1
            submit_s.append(time.perf_counter() - sent)
            for result in done["results"]:
                if result["ok"]:
                    pending[requester_of_task(result["claim_id"])].append(result["submission_id"])
            wake.set()

    async def review(requester: str, finished: asyncio.Event, bar_advance: Any) -> None:
        client = req_clients[requester]
        while True:
            if not pending[requester]:
                if finished.is_set():
                    return
                wake.clear()
                await asyncio.wait([asyncio.ensure_future(wake.wait())], timeout=0.05)
                continue
            items = pending[requester][:REVIEW_BATCH]
            del pending[requester][:REVIEW_BATCH]
            answer = await client.review([{"submission_id": s, "decision": "approve"}
                                          for s in items])  # fmt: skip
            counts["requests"] += 1
            counts["approved"] += answer["approved"]
            bar_advance(answer["approved"])

    async def credited() -> int:
        pipe = db.pipeline(transaction=False)
        for w in worker_ids:
            pipe.hget(worker_key(w, "EUR"), "credited")
        return sum(int(v or 0) for v in await pipe.execute())

    commands_before = _command_latency(url)
    with progress() as bar:
        job = bar.add_task(f"e2e suites of {suite} approved", total=tasks)
        finished = asyncio.Event()
        started = time.perf_counter()
        posters = [asyncio.create_task(post(r)) for r in range(requesters)]
        reviewers = [asyncio.create_task(review(r, finished, lambda n: bar.advance(job, n)))
                     for r in req_clients]  # fmt: skip
        await asyncio.gather(*posters)
        await asyncio.gather(*(work(c) for c in wrk_clients))
        stamps["claimed"] = time.perf_counter()
        finished.set()
        await asyncio.gather(*reviewers)
        stamps["approved"] = time.perf_counter()
        want = REWARD * counts["claimed"]
        while await credited() < want:
            await asyncio.sleep(0.05)
        stamps["ledger"] = time.perf_counter()
    for c in [*req_clients.values(), *wrk_clients]:
        await c.close()
    await db.aclose()
    n = counts["claimed"]
    commands = _commands_between(commands_before, _command_latency(url), n)
    total = stamps["ledger"] - started
    return {
        "tasks": n, "suite": suite, "seconds": total, "tasks_s": n / total,
        # the workers' side alone (claim + submit, the peer's claim + ack), posting included
        "claim_submit_tasks_s": n / (stamps["claimed"] - started),
        "stages_s": {k: v - started for k, v in stamps.items()},
        "ledger_lag_after_last_approval_ms": (stamps["ledger"] - stamps["approved"]) * 1000,
        "empty_claims": counts["empty"],
        "claim_suite_ms": quantiles_ms(claim_s), "submit_many_ms": quantiles_ms(submit_s),
        "http_requests_per_task": counts["requests"] / max(n, 1),
        "commands": commands,  # per task, and the API's mean wait for each reply
        "workers": workers, "requesters": requesters,
    }  # fmt: skip


# --- the Redis-list peer at the same granularity: N claims in one round trip, N acks in one


async def _peer(tasks: int, concurrency: int, suite: int) -> dict[str, Any]:
    import redis.asyncio as aioredis

    from bench.ingest import _records

    db = aioredis.Redis.from_url(redis_url(), max_connections=concurrency + 64)
    prefix = f"bench:peer-suite:{tag()}"
    pending, processing = f"{prefix}:pending", f"{prefix}:processing"
    payloads = _records(1_000)
    lat: list[float] = []
    done = 0
    try:
        items = [payloads[i % 1_000] for i in range(tasks)]
        for i in range(0, len(items), 1_000):
            await db.lpush(pending, *items[i : i + 1_000])

        async def worker() -> None:
            nonlocal done
            while True:
                sent = time.perf_counter()
                pipe = db.pipeline(transaction=True)  # MULTI: the suite moves atomically
                for _ in range(suite):
                    pipe.lmove(pending, processing, "RIGHT", "LEFT")
                got = [x for x in await pipe.execute() if x is not None]
                if not got:
                    return
                lat.append(time.perf_counter() - sent)
                ack = db.pipeline(transaction=True)
                for item in got:
                    ack.lrem(processing, 1, item)
                await ack.execute()
                done += len(got)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await db.delete(pending, processing)
        await db.aclose()
    return {"tasks": done, "suite": suite, "concurrency": concurrency, "seconds": elapsed,
            "tasks_s": done / elapsed, "claim_suite_ms": quantiles_ms(lat)}  # fmt: skip


def run(quick: bool = False, stack: Any = None, suite: int = 20,
        single: bool = False) -> dict[str, Any]:  # fmt: skip
    """Suite mode; with `single`, today's single-task mode on the same stack first; and the
    peer at both granularities, in the same run."""
    from bench import e2e, peer

    tasks, workers = (2_000, 32) if quick else (20_000, 64)
    result: dict[str, Any] = {}
    with nullcontext(stack) if stack else bench_stack(ROLES) as st:
        asyncio.run(wait_processor(st.url, st.operator_token))
        pids = {role: p.pid for role, p in st.processes.items()}
        pids["bench client"] = os.getpid()
        if single:
            result["single"] = e2e.run(quick, st)
        with CpuMeter(pids) as cpu:
            result["suites"] = asyncio.run(_flow(st.url, st.operator_token, tasks, workers,
                                                 requesters=4, suite=suite))  # fmt: skip
    s = result["suites"]
    s["cpu"] = cpu.summary(s["tasks"])
    stack_ms = sum(v["ms_per_1k"] for k, v in s["cpu"].items()
                   if k not in ("bench client", "other processes")) / 1_000  # fmt: skip
    s["cpu_ms_per_task_stack"] = stack_ms
    s["cpu_ceiling_tasks_s"] = 2_000 / stack_ms if stack_ms else None
    peer_tasks = 20_000 if quick else 100_000
    result["peer_single"] = peer.run(quick, tasks=peer_tasks, concurrency=32)["closed_loop"]
    result["peer_suites"] = asyncio.run(_peer(peer_tasks, 32, suite))
    result["target_tasks_s"] = TARGET_TASKS_S
    result["ratios"] = {
        "suites / target": ratio(s["tasks_s"], TARGET_TASKS_S),
        "suites claim+submit / peer suites claim+ack": ratio(
            s["claim_submit_tasks_s"], result["peer_suites"]["tasks_s"]),
        **({"suites / single": ratio(s["tasks_s"], result["single"]["tasks_s"])}
           if single else {}),
    }  # fmt: skip
    console.print(f"  e2e suites of {suite}: {s['tasks_s']:,.0f} tasks/s fully processed"
                  f" ({s['claim_submit_tasks_s']:,.0f} claimed+submitted/s);"
                  f" peer in suites {result['peer_suites']['tasks_s']:,.0f} claim+ack/s")
    return result


def section(r: dict[str, Any], single: dict[str, Any] | None = None) -> str:
    """The BENCHMARKS.md section of one run; `single` is bench.e2e's run beside it."""
    if "error" in r:
        return f"## End to end in suites\n\nFailed: {r['error']}\n"
    s, ps, p1 = r["suites"], r["peer_suites"], r["peer_single"]
    single = r.get("single") or single
    cpu = ", ".join(f"{k} {x['ms_per_1k'] / 1000:.2f}" for k, x in s["cpu"].items())
    rows = [f"| piecework, suites of {s['suite']}: claim + submit only (workers' side) |"
            f" {s['claim_submit_tasks_s']:,.0f} | | |",
            f"| piecework, suites of {s['suite']} (claim, submit, bulk review) |"
            f" {s['tasks_s']:,.0f} | {s['claim_suite_ms']['p50']:.0f} /"
            f" {s['claim_suite_ms']['p99']:.0f} | {s['http_requests_per_task']:.2f} |"]
    if single:
        rows.append(f"| piecework, one task at a time (bench.e2e) | {single['tasks_s']:,.0f} |"
                    f" {single['claim_ms']['p50']:.0f} / {single['claim_ms']['p99']:.0f} |"
                    f" {single['http_requests_per_task']:.2f} |")
    rows.append(f"| Redis-list peer, suites of {ps['suite']} (claim+ack only) |"
                f" {ps['tasks_s']:,.0f} | {ps['claim_suite_ms']['p50']:.1f} /"
                f" {ps['claim_suite_ms']['p99']:.1f} | - |")
    rows.append(f"| Redis-list peer, one at a time (claim+ack only) | {p1['tasks_s']:,.0f} |"
                f" {p1['claim_ms']['p50']:.1f} / {p1['claim_ms']['p99']:.1f} | - |")
    ratios = "; ".join(f"{k} {v:.3f}" for k, v in r["ratios"].items())
    return (
        "## End to end in suites (`python -m bench.e2e_suites`)\n\n"
        f"{s['tasks']:,} tasks, {s['workers']} workers, {s['requesters']} requesters, from"
        " post to the credit in the ledger view.\n\n"
        "| mode | tasks/s | claim ms p50 / p99 | HTTP requests per task |\n|---|---|---|---|\n"
        + "\n".join(rows) + "\n\n"
        f"Ratios: {ratios}. Stack CPU per task {s['cpu_ms_per_task_stack']:.2f} ms (ceiling on"
        f" 2 cores {s['cpu_ceiling_tasks_s'] or 0:,.0f} tasks/s); ms of CPU per task: {cpu}.\n"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--suite", type=int, default=20, help="claims per suite (1-50)")
    parser.add_argument("--single", action="store_true",
                        help="also run the single-task mode (bench.e2e) on the same stack")
    args = parser.parse_args()
    found = run(args.quick, suite=args.suite, single=args.single)
    console.print(found)
    print(section(found))
