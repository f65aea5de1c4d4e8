"""(a) Task ingest: Kafka's ProducerPerformance, a raw kafka-python producer, and piecework.

All three move records of one realistic TaskSpec's encoded size (bench.common.task_spec):
1. Kafka's own ProducerPerformance (JVM client, acks=all): the broker's limit here;
2. kafka-python (acks=all, as the processor's transactional producer must use) sending
   pre-encoded records: one record per task, and, closer to what the API really does,
   one PostTasks command of 500 tasks per record (the exact bytes the gateway sends);
3. piecework: the async Client posting batches of 1,000 tasks to the API (which splits
   them in commands of 500), the processor deciding them in Kafka transactions; a task
   counts once its batch's reply came back (accepted).

    .venv/bin/python -m bench.ingest [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from bench.common import (
    KAFKA,
    SETTINGS,
    CpuMeter,
    actors,
    bench_stack,
    console,
    encoded_spec_size,
    progress,
    pyspy_finish,
    pyspy_start,
    ratio,
    tag,
    task_spec,
    wait_processor,
)

TARGET_TASKS_S = 20_000
BATCH = 1_000
COMMAND_TASKS = 500  # the API's chunk (Services.batch_chunk)
QUALIFICATION = "ingest"


def _drop(topics: list[str]) -> None:
    from kafka.admin import KafkaAdminClient

    try:
        with KafkaAdminClient(bootstrap_servers=KAFKA) as admin:
            admin.delete_topics(topics)
    except Exception as exc:  # a leftover bench topic costs disk, not correctness
        console.print(f"[yellow]could not drop {topics}: {exc}")


def producer_performance(records: int, size: int) -> dict[str, Any]:
    """Kafka's ProducerPerformance on a fresh topic (4 partitions), acks=all."""
    from deploy import kafka_launcher
    from deploy import settings as stack_settings
    from deploy.kafka_perf import run_tool
    from deploy.topics import create_topics

    cfg = stack_settings.for_settings(SETTINGS)
    kafka_launcher.ensure_jars(cfg.jar_dir)
    topic = f"bench.{tag()}.perf"
    create_topics(KAFKA, {topic: {"retention.ms": "600000"}}, 4)
    try:
        out = run_tool(
            cfg, "org.apache.kafka.tools.ProducerPerformance",
            "--topic", topic, "--num-records", str(records), "--record-size", str(size),
            "--throughput", "-1", "--producer-props", f"bootstrap.servers={KAFKA}", "acks=all",
        )  # fmt: skip
    finally:
        _drop([topic])
    last = out.strip().splitlines()[-1]
    found = re.search(r"([\d.]+) records/sec.*?([\d.]+) ms avg latency", last)
    rate = float(found.group(1)) if found else float("nan")
    return {"records_s": rate, "line": last}


def _records(n: int) -> list[bytes]:
    import msgpack

    from schemas.commands import TaskSpec
    from schemas.fields import from_plain, to_plain

    return [msgpack.packb(to_plain(from_plain(TaskSpec, task_spec(i))), use_bin_type=True)
            for i in range(n)]  # fmt: skip


def _post_commands(count: int) -> list[bytes]:
    from schemas.codec import encode_command
    from schemas.commands import PostTasks
    from schemas.envelope import CommandEnvelope
    from schemas.fields import from_plain

    out = []
    for k in range(count):
        specs = [task_spec(k * COMMAND_TASKS + i) for i in range(COMMAND_TASKS)]
        cmd = from_plain(PostTasks, {"requester_id": "bench", "batch_id": f"b{k}", "tasks": specs})
        out.append(encode_command(CommandEnvelope(f"post:bench:b{k}", "bench", "requester",
                                                  f"post:bench:b{k}", cmd)))  # fmt: skip
    return out


def raw_producer(records: int, commands: int) -> dict[str, Any]:
    """kafka-python (the processor's client), acks=all, linger 1 ms, pre-encoded values."""
    from kafka import KafkaProducer

    from deploy.topics import create_topics

    topic = f"bench.{tag()}.raw"
    create_topics(KAFKA, {topic: {"retention.ms": "600000"}}, 4)
    per_task = _records(min(records, 10_000))
    posts = _post_commands(min(commands, 20))
    try:
        producer = KafkaProducer(bootstrap_servers=KAFKA, linger_ms=1, acks="all",
                                 max_request_size=16 * 1024 * 1024)  # fmt: skip
        producer.send(topic, b"warm-up").get(timeout=30)
        started = time.perf_counter()
        for i in range(records):
            producer.send(topic, per_task[i % len(per_task)], key=b"r%d" % (i % 64))
        producer.flush()
        single = records / (time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(commands):
            producer.send(topic, posts[i % len(posts)], key=b"r%d" % (i % 64))
        producer.flush()
        batched = commands * COMMAND_TASKS / (time.perf_counter() - started)
        producer.close()
    finally:
        _drop([topic])
    return {"records_s": single, "command_tasks_s": batched,
            "command_bytes": len(posts[0])}  # fmt: skip


async def _post_all(url: str, tokens: list[str], tasks: int, concurrency: int,
                    label: str) -> tuple[int, float, list[float]]:  # fmt: skip
    from broker.client import Client

    batches = tasks // BATCH
    # one body reused: task ids come from the batch id
    bodies = [[task_spec(i, QUALIFICATION) for i in range(BATCH)]]
    clients = [Client(url, t, timeout=120) for t in tokens]
    for c in clients:
        await c.__aenter__()
    accepted = 0
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for b in range(batches):
        queue.put_nowait(b)
    with progress() as bar:
        job = bar.add_task(label, total=batches * BATCH)

        async def poster(k: int) -> None:
            nonlocal accepted
            client = clients[k % len(clients)]
            while not queue.empty():
                b = queue.get_nowait()
                sent = time.perf_counter()
                reply = await client.post_batch(f"{label}{b}", bodies[0])
                latencies.append(time.perf_counter() - sent)
                accepted += len(reply["task_ids"])
                bar.advance(job, BATCH)

        started = time.perf_counter()
        await asyncio.gather(*(poster(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
    for c in clients:
        await c.close()
    return accepted, elapsed, latencies


def piecework(tasks: int, concurrency: int, requesters: int, profile_s: float,
              shared: Any = None) -> dict[str, Any]:  # fmt: skip
    async def funded(url: str, op: str) -> list[str]:
        await wait_processor(url, op)
        tokens, _ = await actors(url, op, requesters, 0)
        return tokens

    with nullcontext(shared) if shared else bench_stack(("processor", "api")) as stack:
        tokens = asyncio.run(funded(stack.url, stack.operator_token))
        # a short warm-up: JIT-less Python still warms caches, the producer its batches
        asyncio.run(_post_all(stack.url, tokens, 4 * BATCH, concurrency, "warm"))
        pids = {role: p.pid for role, p in stack.processes.items()}
        import os

        pids["bench client"] = os.getpid()
        with CpuMeter(pids) as cpu:
            accepted, elapsed, lat = asyncio.run(
                _post_all(stack.url, tokens, tasks, concurrency, "ingest"))
        result: dict[str, Any] = {
            "tasks_s": accepted / elapsed, "tasks": accepted, "seconds": elapsed,
            "batch": BATCH, "concurrency": concurrency, "requesters": requesters,
            "batch_reply_ms_p50": sorted(lat)[len(lat) // 2] * 1000 if lat else float("nan"),
            "cpu": cpu.summary(accepted),
        }  # fmt: skip
        if profile_s > 0:
            out = Path(stack.log_dir) / "processor.pyspy.txt"
            spy = pyspy_start(pids["processor"], profile_s, out)
            api_out = Path(stack.log_dir) / "api-ingest.pyspy.txt"
            api_spy = pyspy_start(pids["api"], profile_s, api_out)
            n = int(result["tasks_s"] * profile_s * 1.3) // BATCH * BATCH + BATCH
            asyncio.run(_post_all(stack.url, tokens, n, concurrency, "prof"))
            result["profile_processor"] = pyspy_finish(spy, out)
            result["profile_api_ingest"] = pyspy_finish(api_spy, api_out)
    return result


def run(quick: bool = False, profile: bool = True, stack: Any = None) -> dict[str, Any]:
    size = encoded_spec_size()
    n_perf = 100_000 if quick else 500_000
    n_raw = 30_000 if quick else 150_000
    n_cmd = 40 if quick else 200
    n_pw = 10_000 if quick else 100_000
    console.print(f"[bold]ingest[/]: TaskSpec = {size} bytes; ProducerPerformance {n_perf:,}")
    perf = producer_performance(n_perf, size)
    console.print(f"  ProducerPerformance {perf['records_s']:,.0f} records/s")
    raw = raw_producer(n_raw, n_cmd)
    console.print(f"  kafka-python raw {raw['records_s']:,.0f} records/s, "
                  f"{raw['command_tasks_s']:,.0f} tasks/s in PostTasks records")  # fmt: skip
    pw = piecework(n_pw, concurrency=8, requesters=4, profile_s=8 if profile else 0,
                   shared=stack)
    console.print(f"  piecework {pw['tasks_s']:,.0f} tasks/s")
    return {
        "record_bytes": size,
        "producer_performance": perf,
        "raw": raw,
        "piecework": pw,
        "target_tasks_s": TARGET_TASKS_S,
        "ratios": {
            "piecework / raw (per-task records)": ratio(pw["tasks_s"], raw["records_s"]),
            "piecework / raw (PostTasks records)": ratio(pw["tasks_s"], raw["command_tasks_s"]),
            "raw / ProducerPerformance": ratio(raw["records_s"], perf["records_s"]),
            "piecework / target": ratio(pw["tasks_s"], TARGET_TASKS_S),
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    console.print(run(args.quick, not args.no_profile))
