"""(f) Memory per process with a million tasks.

- Redis: 1,000,000 TaskPosted (+ a claim on every 10th task) projected by every view and
  applied with RedisStore.apply in batches of 500 (one Lua call each): used_memory delta.
- Views worker and API processes (a running stack on the same DB): RSS after the fold and
  after real traffic through them (posts folded by the views worker, claims read from
  the queue by the API). Neither keeps per-task state, so their RSS should stay flat.
- Processor: a subprocess builds one Shard holding 1,000,000 task aggregates the way
  the processor really gets them (PostTasks commands decoded from their bytes, decided,
  their events applied, every reply kept for idempotency as PartitionState does), then
  reports its RSS.

Quick mode folds fewer tasks and extrapolates linearly (marked as such).

    .venv/bin/python -m bench.memory [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from contextlib import nullcontext
from typing import Any

from bench.common import (
    ROOT,
    actors,
    bench_stack,
    console,
    progress,
    redis_url,
    rss_mb,
    tag,
    task_spec,
    wait_processor,
)

TARGET_MB = 300.0
T0 = 1_700_000_000_000
FAKE_PARTITION = 1_000  # offsets of the synthetic fold never meet the live worker's
ROLES = ("processor", "api", "views")


def _posted(i: int) -> Any:
    from schemas.envelope import EventEnvelope
    from schemas.events import TaskClaimed, TaskPosted

    spec = task_spec(i)
    # Ids as the API mints them: a requester's batch of 1,000 posted as two 500-task
    # chunks, indexes 0-499 in each (the tasks view keeps 32 consecutive ones a hash).
    r, batch = f"req{(i // 1_000) % 200}", f"b{i // 1_000}.{(i % 1_000) // 500}"
    task_id = f"{r}:{batch}:{i % 500}"
    event = TaskPosted(task_id, r, batch, spec["kind"], spec["title"], spec["reward"],
                       6_000, "EUR", 1, 900, T0 + 7 * 86_400_000, 259_200, 15, 0, ("fold",),
                       spec["payload"], None, False)  # fmt: skip
    out = [EventEnvelope(f"c{i}/1", f"task:{task_id}", 1, T0 + i, f"c{i}", f"c{i}", f"c{i}",
                         r, event)]  # fmt: skip
    if i % 10 == 0:
        claim = TaskClaimed(task_id, f"{task_id}:c0", f"w{i % 5_000}", T0 + i + 900_000)
        out.append(EventEnvelope(f"k{i}/0", f"task:{task_id}", 2, T0 + i, f"k{i}", f"k{i}",
                                 f"k{i}", f"w{i % 5_000}", claim))  # fmt: skip
    return out


def fold_redis(tasks: int) -> dict[str, Any]:
    import redis

    from consumers.engine.runner import VIEWS, entries_for
    from consumers.stores.redis_store import RedisStore

    client = redis.Redis.from_url(redis_url(), decode_responses=True)
    store = RedisStore(client)
    before = client.info("memory")["used_memory"]
    keys_before = client.dbsize()
    events = 0
    started = time.perf_counter()
    with progress() as bar:
        job = bar.add_task("fold into redis", total=tasks)
        offset = 0
        for b in range(0, tasks, 500):
            records = []
            for i in range(b, min(tasks, b + 500)):
                for env in _posted(i):
                    records.append((FAKE_PARTITION, offset, env))
                    offset += 1
            events += len(records)
            store.apply(entries_for(VIEWS, records))
            bar.advance(job, len(records) and min(500, tasks - b))
    elapsed = time.perf_counter() - started
    after = client.info("memory")
    delta = after["used_memory"] - before
    found = {"tasks": tasks, "events": events, "seconds": elapsed, "events_s": events / elapsed,
             "used_memory_delta_mb": delta / 2**20, "bytes_per_task": delta / tasks,
             "used_memory_total_mb": after["used_memory"] / 2**20,
             "keys_added": client.dbsize() - keys_before,
             "listpack_config": client.config_get("*-max-listpack-*"),
             "bytes_per_task_by_family": by_family(client, tasks)}  # fmt: skip
    client.close()
    return found


def by_family(client: Any, tasks: int, sample: int = 500) -> dict[str, float]:
    """MEMORY USAGE per task of each key family (`pw:view:kind`), from up to `sample` keys
    of each: where the bytes go. Excludes the keyspace's own table, so sums a little short."""
    import random

    families: dict[str, list[str]] = {}
    for key in client.scan_iter(match="pw:*", count=1_000):
        families.setdefault(":".join(key.split(":")[:3]), []).append(key)
    rng, found = random.Random(0), {}
    for family, keys in families.items():
        picked = rng.sample(keys, min(sample, len(keys)))
        used = sum(client.memory_usage(k, samples=0) or 0 for k in picked)
        found[family] = used * len(keys) / len(picked) / tasks
    return dict(sorted(found.items(), key=lambda kv: -kv[1]))


SHARD_SCRIPT = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[2])
from bench.common import rss_mb, task_spec
from broker.domain.policy import Policy
from broker.domain.shard import Shard
from broker.processor.partition_state import PartitionState
from schemas.codec import decode_command, encode_command, encode_reply
from schemas.commands import ClaimTask, DepositFunds, PostTasks
from schemas.envelope import CommandEnvelope
from schemas.fields import from_plain
n = int(sys.argv[1])
base = rss_mb(os.getpid())
state = PartitionState(0)
policy = Policy(max_batch_tasks=10_000)
now = 1_700_000_000_000
def run(cmd_id, command, role="requester", actor="acme"):
    raw = encode_command(CommandEnvelope(cmd_id, actor, role, cmd_id, command))
    env = decode_command(raw)  # production objects come from bytes: no shared payloads
    d = state.shard.decide(env, now, policy)
    assert d.reply.accepted, d.reply
    for e in d.events:
        state.shard.apply(e)
    state.replies[env.command_id] = encode_reply(d.reply)
    return d.reply
run("dep", DepositFunds("acme", 10**15, "EUR"))
started = time.perf_counter()
for b in range(0, n, 500):
    specs = [task_spec(i) for i in range(b, min(n, b + 500))]
    cmd = from_plain(PostTasks, {"requester_id": "acme", "batch_id": f"b{b}", "tasks": specs})
    reply = run(f"post:acme:b{b}", cmd)
    for task_id in reply.result["task_ids"][::10]:
        w = f"w{b % 5000}"
        run(f"{w}:{task_id}", ClaimTask(task_id, w), "worker", w)
built = time.perf_counter() - started
print(json.dumps({"tasks": len(state.shard.tasks), "replies": len(state.replies),
                  "rss_mb": rss_mb(os.getpid()), "baseline_mb": base, "seconds": built}))
"""


def shard_start(tasks: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SHARD_SCRIPT, str(tasks), str(ROOT)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip


def shard_finish(proc: subprocess.Popen) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=900)
    if proc.returncode:
        raise RuntimeError(f"the shard subprocess exited with {proc.returncode}")
    found = json.loads(out.strip().splitlines()[-1])
    found["bytes_per_task"] = (found["rss_mb"] - found["baseline_mb"]) * 2**20 / found["tasks"]
    return found


async def _traffic(url: str, op: str, tasks: int, claims: int) -> None:
    from broker.client import Client

    quals = f"mem{tag()}"
    req, wrk = await actors(url, op, 1, 20, qualification=quals)
    async with Client(url, req[0], timeout=120) as r:
        for b in range(0, tasks, 1_000):
            await r.post_batch(f"m{b}", [task_spec(i, quals) for i in range(1_000)])
    clients = [Client(url, t) for t in wrk]
    for c in clients:
        await c.__aenter__()
    done = 0
    deadline = time.monotonic() + 60
    while done < claims and time.monotonic() < deadline:
        got = await asyncio.gather(*(c.claim_next() for c in clients))
        done += sum(1 for g in got if g)
    for c in clients:
        await c.close()


def run(quick: bool = False, stack: Any = None) -> dict[str, Any]:
    tasks = 50_000 if quick else 1_000_000
    scale = 1_000_000 / tasks
    result: dict[str, Any] = {"tasks": tasks, "extrapolated_to_1m": scale != 1}
    with nullcontext(stack) if stack else bench_stack(ROLES) as st:
        asyncio.run(wait_processor(st.url, st.operator_token))
        pids = {role: p.pid for role, p in st.processes.items()}
        result["rss_start_mb"] = {role: rss_mb(pid) for role, pid in pids.items()}
        console.print(f"[bold]memory[/]: folding {tasks:,} tasks into Redis DB 9; a Shard of "
                      f"{tasks:,} tasks builds meanwhile in a subprocess")  # fmt: skip
        shard = shard_start(tasks)
        result["redis"] = fold_redis(tasks)
        console.print(f"  redis: {result['redis']['bytes_per_task']:,.0f} B/task "
                      f"({result['redis']['used_memory_delta_mb']:,.0f} MB for {tasks:,})")
        asyncio.run(_traffic(st.url, st.operator_token, 2_000 if quick else 10_000, 200))
        time.sleep(1.0)
        result["rss_after_mb"] = {role: rss_mb(pid) for role, pid in pids.items()}
        import redis

        # DB 9 is the benches' own. Freed in the background: a synchronous FLUSHDB of the
        # full run's 2M keys outlasts the client's socket timeout.
        redis.Redis.from_url(redis_url()).flushdb(asynchronous=True)
    result["processor_shard"] = shard_finish(shard)
    redis_1m = result["redis"]["bytes_per_task"] * 1_000_000 / 2**20
    shard = result["processor_shard"]
    shard_1m = shard["baseline_mb"] + shard["bytes_per_task"] * 1_000_000 / 2**20
    result["at_1m_mb"] = {
        "redis used_memory (views)": redis_1m,
        "processor (1M aggregates + replies)": shard_1m,
        "views worker": result["rss_after_mb"].get("views", float("nan")),
        "api": result["rss_after_mb"].get("api", float("nan")),
    }
    result["target_mb"] = TARGET_MB
    result["ratios"] = {f"{k} / target": v / TARGET_MB for k, v in result["at_1m_mb"].items()}
    for k, v in result["at_1m_mb"].items():
        console.print(f"  {k}: {v:,.0f} MB")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(run(parser.parse_args().quick), indent=1))

