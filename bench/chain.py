"""What the events log's hash chain costs, and how fast an export is verified.

    .venv/bin/python -m bench.chain [--events 100000] [--commands 3000] [--rounds 2]

1. The chain's own work per record (SHA-256 of the value, then the link), on the records
   of a realistic log decided by the real domain (testkit/replay_log.py): CPU per 1,000
   events, and as a share of (b) decode + Shard.apply, the processor's fold of the log.
2. Ingest with and without the chain: a real processor (in this process, real Kafka)
   decides the same pre-loaded commands from an empty log; CPU seconds of the process per
   1,000 events written, and wall events/s. "Without" stamps no header (the processor of
   before the chain). Rounds alternate, so a loaded machine skews both alike.
3. verify speed: `audit.verify.verify_file` on an export of the log of (1), events/s and
   records/s of CPU time; and the live audit's chain check alone (records from the topic).
CPU time is the process's own (time.process_time), so other load on the shared machine
skews it less than wall time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient

from audit.chain_check import ChainCheck
from audit.verify import verify_file
from bench.common import KAFKA, REDIS_BASE
from broker.domain.policy import Policy
from broker.domain.shard import Shard
from broker.processor import chain as processor_chain
from broker.processor.service import CommandProcessor
from deploy.topics import create_topics
from runtime.clock import SystemClock
from runtime.kafka_io import read_topic
from runtime.settings import Settings
from schemas import commands as c
from schemas.chain import Head, digest
from schemas.codec import decode_events, decode_positioned, encode_command
from schemas.envelope import CommandEnvelope
from schemas.ids import make_task_id
from schemas.jsonform import event_line
from schemas.topics import Topics
from testkit.replay_log import encode_log, make_log

Raw = tuple[int, int, bytes]


def cpu(fn) -> float:  # type: ignore[no-untyped-def]
    started = time.process_time()
    fn()
    return time.process_time() - started


def chain_only(raws: list[Raw]) -> None:
    heads: dict[int, Head] = {}
    for p, _, raw in raws:
        heads[p] = heads.get(p, Head()).next(p, digest(raw))


def decode_apply(raws: list[Raw]) -> None:
    shards: dict[int, Shard] = {}
    for p, _, raw in raws:
        shard = shards.setdefault(p, Shard())
        for env in decode_events(raw):
            shard.apply(env)


def write_export(raws: list[Raw], path: Path) -> None:
    """The export `piecework export` writes for these records, chain fields included."""
    heads: dict[int, Head] = {}
    with path.open("w") as out:
        for p, o, raw in raws:
            heads[p] = head = heads.get(p, Head()).next(p, digest(raw))
            for n, (_, pos, env) in enumerate(decode_positioned(p, o, raw)):
                line = event_line(env, p, pos)
                if n == 0:
                    line = line[:-1] + ',"chain":' + json.dumps(head.to_json()) + "}"
                out.write(line + "\n")


def live_check(raws: list[Raw]) -> None:
    check = ChainCheck()
    heads: dict[int, Head] = {}
    headers = []
    for p, o, raw in raws:  # the headers the processor wrote, made outside the timing
        heads[p] = h = heads.get(p, Head()).next(p, digest(raw))
        headers.append((p, o, raw, (h.n, h.head)))

    def run() -> None:
        for p, o, raw, header in headers:
            check.feed(p, o, digest(raw), header)

    live_check.seconds = cpu(run)  # type: ignore[attr-defined]


def pure_figures(events: int) -> dict[str, float]:
    log = make_log(events)
    raws = encode_log(log)
    per_k = 1000 / len(log)
    chain_s = min(cpu(lambda: chain_only(raws)) for _ in range(3))
    apply_s = min(cpu(lambda: decode_apply(raws)) for _ in range(3))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        write_export(raws, path)
        verify_s = min(cpu(lambda: verify_file(path)) for _ in range(2))
        assert verify_file(path).ok
    live_check(raws)
    return {
        "events": len(log), "records": len(raws),
        "chain_ms_per_1k_events": chain_s * 1000 * per_k,
        "decode_apply_ms_per_1k_events": apply_s * 1000 * per_k,
        "chain_share_of_decode_apply": chain_s / apply_s,
        "verify_events_per_s": len(log) / verify_s,
        "verify_records_per_s": len(raws) / verify_s,
        "live_chain_check_records_per_s": len(raws) / live_check.seconds,  # type: ignore
    }  # fmt: skip


def commands(n: int) -> list[CommandEnvelope]:
    """Deposits, posts of 10-task batches and claims: one to eleven events per command."""
    out = [CommandEnvelope(f"dep-{r}", f"r{r}", "requester", "b",
                           c.DepositFunds(f"r{r}", 10**12, "EUR")) for r in range(8)]  # fmt: skip
    spec = c.TaskSpec(kind="keyword_check", reward=30_000, currency="EUR", estimated_seconds=20,
                      assignments=50, payload={"q": "x" * 200})  # fmt: skip
    batches = max(1, n // 10)
    for b in range(batches):
        r = f"r{b % 8}"
        out.append(CommandEnvelope(f"post-{b}", r, "requester", "b",
                                   c.PostTasks(r, f"b{b}", (spec,) * 10)))  # fmt: skip
    for i in range(n - len(out)):
        b = i % batches
        task = make_task_id(f"r{b % 8}", f"b{b}", i % 10)
        out.append(CommandEnvelope(f"claim-{i}", f"w{i}", "worker", "b",
                                   c.ClaimTask(task, f"w{i}")))  # fmt: skip
    return out


def ingest(cmds: list[CommandEnvelope], chained: bool) -> dict[str, float]:
    topics = Topics(f"bench.chain.{uuid.uuid4().hex[:8]}")
    settings = Settings(kafka=KAFKA, redis=REDIS_BASE, topics=topics, partitions=4)
    create_topics(settings.kafka, settings.topics.creation_configs(), settings.partitions)
    producer = KafkaProducer(bootstrap_servers=settings.kafka, linger_ms=5)
    for env in cmds:
        producer.send(settings.topics.commands, encode_command(env), key=env.partition_key.encode())
    producer.flush()
    producer.close()
    original = processor_chain.PartitionChain.stamp
    if not chained:
        processor_chain.PartitionChain.stamp = lambda self, value: None  # type: ignore[assignment]
    processor = CommandProcessor(settings, Policy(), SystemClock(), uuid.uuid4().hex[:6])
    try:
        processor.start()
        decided, seconds, cpu_s = 0, 0.0, 0.0
        while decided < len(cmds):  # only steps that decided something count (not the join)
            wall, started = time.perf_counter(), time.process_time()
            n = processor.step()
            if n:
                decided += n
                seconds += time.perf_counter() - wall
                cpu_s += time.process_time() - started
    finally:
        processor.close()
        processor_chain.PartitionChain.stamp = original  # type: ignore[method-assign]
    records = list(read_topic(settings.kafka, settings.topics.events))
    events = sum(len(decode_events(r.value)) for r in records)
    headed = sum(1 for r in records if r.headers)
    assert (headed > 0) == chained
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka)
    admin.delete_topics(list(settings.topics.creation_configs()))
    admin.close()
    return {"events": events, "cpu_ms_per_1k_events": cpu_s * 1e6 / events,
            "events_per_s": events / seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--commands", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    pure = pure_figures(args.events)
    print(f"1. chain alone: {pure['chain_ms_per_1k_events']:.2f} ms CPU per 1,000 events "
          f"({pure['events']:,} events in {pure['records']:,} records); decode + Shard.apply "
          f"{pure['decode_apply_ms_per_1k_events']:.2f} ms: ratio "
          f"{pure['chain_share_of_decode_apply']:.3f}")  # fmt: skip
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    cmds = commands(args.commands)
    for _ in range(args.rounds):
        for chained in (False, True):
            runs[chained].append(ingest(cmds, chained))
    best = {k: min(v, key=lambda r: r["cpu_ms_per_1k_events"]) for k, v in runs.items()}
    for chained in (False, True):
        b = best[chained]
        print(f"2. ingest {'with' if chained else 'without'} the chain: "
              f"{b['cpu_ms_per_1k_events']:.1f} ms CPU per 1,000 events, "
              f"{b['events_per_s']:,.0f} events/s wall ({b['events']:,} events, best of "
              f"{args.rounds})")  # fmt: skip
    ratio = best[True]["cpu_ms_per_1k_events"] / best[False]["cpu_ms_per_1k_events"]
    medians = {k: statistics.median(r["cpu_ms_per_1k_events"] for r in v) for k, v in runs.items()}
    median_ratio = medians[True] / medians[False]
    print(f"   CPU with / without: {ratio:.3f} (best of each), {median_ratio:.3f} "
          f"(medians {medians[False]:.1f} / {medians[True]:.1f} ms)")  # fmt: skip
    print(f"3. verify an export: {pure['verify_events_per_s']:,.0f} events/s "
          f"({pure['verify_records_per_s']:,.0f} records/s) of CPU; the live audit's chain "
          f"check alone: {pure['live_chain_check_records_per_s']:,.0f} records/s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
