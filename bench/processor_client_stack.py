"""The processor's CPU per command in the real stack, on kafka-python and on confluent-kafka.

bench/kafka_client_compare.py measures the clients in a loop of their own; this runs the
real processor (PIECEWORK_PROCESSOR_CLIENT) in a real stack (processor, API, views, one
Kafka, one Redis) and reads the processor process's CPU time (/proc, every thread: the
clients' own threads included) over two phases:

- ingest: requesters post tasks through the API in batches of 500 (8 at a time): few,
  large commands, each ~500 events, so the decision dominates;
- claims: workers claim at a fixed offered rate (100 claims/s, open loop): many small
  commands, about one transaction each, so the client dominates.

CPU per command counts the commands the API sent (its own /metrics). Each round starts a
stack per client, in alternating order; medians over rounds, ratio confluent/kafka-python.

    .venv/bin/python -m bench.processor_client_stack [--rounds 2] [--tasks 10000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import urllib.request
from typing import Any

from bench.claims import _open_loop, _queue_holds
from bench.common import (
    actors,
    bench_stack,
    console,
    cpu_seconds,
    tag,
    task_spec,
    wait_processor,
)

CLIENTS = ("kafka-python", "confluent-kafka")
ROLES = ("processor", "api", "views")
RATE = 100.0


def _commands(base_url: str, kind: str) -> float:
    """Commands of one type the API has sent so far, from its /metrics."""
    text = urllib.request.urlopen(f"{base_url}/metrics", timeout=10).read().decode()
    prefix = f'piecework_command_latency_seconds_count{{type="{kind}"}}'
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


async def _post(url: str, token: str, n: int, qualification: str, label: str) -> None:
    """n open tasks in batches of 500, 8 batches at a time, each batch id new."""
    from broker.client import Client

    async with Client(url, token, timeout=300) as r:
        starts = list(range(0, n, 500))
        for i in range(0, len(starts), 8):
            await asyncio.gather(*(r.post_batch(f"{label}{b}", [task_spec(k, qualification)
                                                               for k in range(min(500, n - b))])
                                   for b in starts[i : i + 8]))  # fmt: skip


async def _phases(stack: Any, tasks: int, seconds: float) -> dict[str, Any]:
    from broker.client import Client

    await wait_processor(stack.url, stack.operator_token, timeout=300)
    pid = stack.processes["processor"].pid
    quals = f"pc{tag()}"
    req, wrk = await actors(stack.url, stack.operator_token, 1, 50, qualification=quals)
    claims = int(RATE * seconds * 1.3) + 200
    await _post(stack.url, req[0], 1_000, quals, "warm")  # warm-up: caches, batches, metadata
    out: dict[str, Any] = {}

    cpu0, wall0, sent0 = cpu_seconds(pid), time.perf_counter(), _commands(stack.url, "PostTasks")
    await _post(stack.url, req[0], tasks + claims, quals, "ingest")
    # the API answers once the processor decided: its work is done when the last answer is
    posts = _commands(stack.url, "PostTasks") - sent0
    cpu = cpu_seconds(pid) - cpu0
    out["ingest"] = {"commands": posts, "tasks": tasks + claims,
                     "cpu_s": cpu, "wall_s": time.perf_counter() - wall0,
                     "cpu_us_per_command": cpu / posts * 1e6,
                     "cpu_us_per_task": cpu / (tasks + claims) * 1e6}  # fmt: skip

    await _queue_holds(quals, tasks + claims + 1_000, timeout=600)
    clients = [Client(stack.url, t, retries=0, timeout=30) for t in wrk]
    for c in clients:
        await c.__aenter__()
    try:
        cpu0, sent0 = cpu_seconds(pid), _commands(stack.url, "ClaimTask")
        loop = await _open_loop(clients, RATE, seconds, f"claims @{RATE:.0f}/s")
        await asyncio.sleep(1.0)  # the last answers' transactions are committed by now
        sent = _commands(stack.url, "ClaimTask") - sent0
        cpu = cpu_seconds(pid) - cpu0
    finally:
        for c in clients:
            await c.close()
    out["claims"] = {"commands": sent, "claimed": loop["outcome"]["claimed"], "cpu_s": cpu,
                     "cpu_us_per_command": cpu / sent * 1e6, "p50_ms": loop["p50"],
                     "p99_ms": loop["p99"], "outcome": loop["outcome"],
                     "error_codes": loop["error_codes"]}  # fmt: skip
    return out


def one(client: str, tasks: int, seconds: float) -> dict[str, Any]:
    with bench_stack(ROLES, PIECEWORK_PROCESSOR_CLIENT=client) as stack:
        return asyncio.run(_phases(stack, tasks, seconds))


def run(rounds: int = 2, tasks: int = 10_000, seconds: float = 20.0) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CLIENTS}
    for r in range(rounds):
        for client in CLIENTS if r % 2 == 0 else tuple(reversed(CLIENTS)):
            found = one(client, tasks, seconds)
            runs[client].append(found)
            console.print(f"  #{r + 1} {client}: ingest {found['ingest']['cpu_us_per_task']:,.0f} "
                          f"us/task, claims {found['claims']['cpu_us_per_command']:,.0f} "
                          f"us/command (p99 {found['claims']['p99_ms']:.0f} ms)")  # fmt: skip
    med = {c: {phase: {k: statistics.median(x[phase][k] for x in rs)
                       for k, v in rs[0][phase].items() if isinstance(v, float | int)}
               for phase in ("ingest", "claims")} for c, rs in runs.items()}  # fmt: skip
    ratios = {phase: {k: med["confluent-kafka"][phase][k] / med["kafka-python"][phase][k]
                      for k in med["kafka-python"][phase] if k.startswith("cpu_us")}
              for phase in ("ingest", "claims")}  # fmt: skip
    return {"rounds": rounds, "tasks": tasks, "claim_rate": RATE, "claim_seconds": seconds,
            "median": med, "ratio_confluent_to_kafka_python": ratios, "runs": runs}  # fmt: skip


def for_run(quick: bool) -> dict[str, Any]:
    """bench/run.py's entry: one round of small phases in quick mode."""
    return run(1, 2_000, 5.0) if quick else run(2, 10_000, 20.0)


def section(r: dict[str, Any]) -> str:
    med, ratio = r["median"], r["ratio_confluent_to_kafka_python"]
    kp, ck = med["kafka-python"], med["confluent-kafka"]
    return "\n".join([
        f"## The processor's Kafka client in the stack (medians of {r['rounds']} rounds, "
        "alternating; processor process CPU)",
        "",
        "| phase | kafka-python | confluent-kafka | confluent / kafka-python |",
        "|---|---|---|---|",
        f"| ingest, {r['tasks']:,} tasks in posts of 500: CPU us per task | "
        f"{kp['ingest']['cpu_us_per_task']:,.0f} | {ck['ingest']['cpu_us_per_task']:,.0f} | "
        f"{ratio['ingest']['cpu_us_per_task']:.2f} |",
        f"| claims at {r['claim_rate']:.0f}/s for {r['claim_seconds']:.0f} s: CPU us per command | "
        f"{kp['claims']['cpu_us_per_command']:,.0f} | {ck['claims']['cpu_us_per_command']:,.0f} | "
        f"{ratio['claims']['cpu_us_per_command']:.2f} |",
        f"| claim latency p50 / p99 (ms) | {kp['claims']['p50_ms']:.0f} / "
        f"{kp['claims']['p99_ms']:.0f} | {ck['claims']['p50_ms']:.0f} / "
        f"{ck['claims']['p99_ms']:.0f} | |",
    ]) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    print(json.dumps(run(args.rounds, args.tasks, args.seconds), indent=1))
