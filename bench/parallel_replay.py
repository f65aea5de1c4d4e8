"""Parallel replay (issue 14): serial vs parallel decode + fold, and `piecework audit` wall time.

    .venv/bin/python -m bench.parallel_replay --events 200000 [--jobs 2] [--no-kafka]

1. decode + fold: the log's Kafka records (testkit/replay_log.py, encoded as on the topic)
   decoded and folded into every audited view, serially in this process, then by
   `--jobs` forked workers, one partition each, folding into TrackedStores that the
   parent merges (audit/parallel.py); wall time, since that is what parallelism buys;
2. the same log written to a real topic with its hash chain, then `piecework audit
   --no-live --json` as a subprocess with --jobs 1 and --jobs N (wall time including
   the interpreter's start, reading from Kafka, every check and the chain check);
Alternating order, each measured `--rounds` times; medians printed with the ratio.
Extrapolation to 1M events is linear and printed as such.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

from audit.parallel import default_jobs
from audit.tracked_store import TrackedStore, merge
from bench.common import ROOT, console, ratio
from consumers.engine.runner import digests, fold_log
from runtime import gc_tuning
from schemas.codec import decode_positioned
from testkit.replay_log import encode_log, make_log

TARGET_EVENTS_S, TARGET_AUDIT_1M_S = 100_000, 15.0
_RAWS: dict[int, list[tuple[int, int, bytes]]] = {}  # per partition, inherited by fork


def _fold_partition(partition: int) -> tuple:
    store = TrackedStore()
    fold_log((r for p, o, raw in _RAWS[partition] for r in decode_positioned(p, o, raw)), store)
    return store.shipped()


def serial_fold(raws: list[tuple[int, int, bytes]]) -> dict[str, str]:
    return digests(fold_log(r for p, o, raw in raws for r in decode_positioned(p, o, raw)))


def parallel_fold(jobs: int) -> dict[str, str]:
    gc.freeze()  # as audit/parallel.py: the workers' collections skip the parent's heap
    try:
        pool = multiprocessing.get_context("fork").Pool(jobs)
    finally:
        gc.unfreeze()
    with pool:
        largest = sorted(_RAWS, key=lambda p: -len(_RAWS[p]))  # as audit/parallel.py
        found = dict(zip(largest, pool.map(_fold_partition, largest, chunksize=1), strict=True))
        parts = [found[p] for p in sorted(_RAWS)]
    merged = merge(parts)
    assert merged is not None, "a well-formed log always merges"
    return digests(merged)


def _timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def write_topic(raws: list[tuple[int, int, bytes]], bootstrap: str, prefix: str,
                partitions: int) -> None:  # fmt: skip
    from kafka import KafkaProducer

    from deploy.topics import create_topics
    from schemas.chain import Head, digest, encode_header
    from schemas.topics import Topics

    topics = Topics(prefix)
    create_topics(bootstrap, {topics.events: {}, topics.dead_letter: {}}, partitions)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20,
                             batch_size=512 * 1024, compression_type=None)  # fmt: skip
    heads = {p: Head() for p in range(partitions)}
    for p, _, value in raws:
        heads[p] = heads[p].next(p, digest(value))
        producer.send(topics.events, value=value, partition=p,
                      headers=[("pw-chain", encode_header(heads[p].n, heads[p].head))])  # fmt: skip
    producer.flush()
    producer.close()


def cli_audit(bootstrap: str, prefix: str, jobs: int) -> tuple[float, dict[str, Any]]:
    env = {**os.environ, "PIECEWORK_KAFKA": bootstrap, "PIECEWORK_TOPIC_PREFIX": prefix}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "deploy.cli", "audit", "--no-live", "--json",
                           "--jobs", str(jobs)], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise RuntimeError(done.stderr[-2000:])
    report = json.loads(done.stdout)
    # CPU of the audit and its workers: on a shared machine, wall time shows the cores
    # the run got; CPU time shows the work.
    report["cpu_s"] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return seconds, report


def run(events: int, jobs: int, rounds: int, kafka: bool) -> dict[str, Any]:
    gc_tuning.tune()
    partitions = 8
    started = time.perf_counter()
    raws = encode_log(sorted(make_log(events, partitions=partitions), key=lambda r: r[0]))
    console.print(f"  log: {events:,} events in {len(raws):,} records "
                  f"({time.perf_counter() - started:.1f}s to make)")  # fmt: skip
    _RAWS.clear()
    for raw in raws:
        _RAWS.setdefault(raw[0], []).append(raw)
    serial_s, parallel_s = [], []
    for n in range(rounds):
        order = (("s", "p") if n % 2 == 0 else ("p", "s"))
        for which in order:
            if which == "s":
                seconds, serial_digests = _timed(lambda: serial_fold(raws))
                serial_s.append(seconds)
            else:
                seconds, parallel_digests = _timed(lambda: parallel_fold(jobs))
                parallel_s.append(seconds)
    assert serial_digests == parallel_digests, "parallel fold differs from the serial one"
    fold = {"serial_events_s": events / statistics.median(serial_s),
            "parallel_events_s": events / statistics.median(parallel_s),
            "serial_s": serial_s, "parallel_s": parallel_s}  # fmt: skip
    fold["ratio"] = ratio(fold["parallel_events_s"], fold["serial_events_s"])
    console.print(f"  decode + fold: serial {fold['serial_events_s']:,.0f} events/s, "
                  f"{jobs} jobs {fold['parallel_events_s']:,.0f} events/s (x{fold['ratio']})")
    result: dict[str, Any] = {"events": events, "records": len(raws), "jobs": jobs,
                              "cpus": default_jobs(), "decode_fold": fold,
                              "target_events_s": TARGET_EVENTS_S}  # fmt: skip
    if kafka:
        bootstrap = os.environ.get("PIECEWORK_KAFKA", "127.0.0.1:9092")
        prefix = f"bench-par-{uuid.uuid4().hex[:8]}"
        seconds, _ = _timed(lambda: write_topic(raws, bootstrap, prefix, partitions))
        console.print(f"  wrote the topic in {seconds:.1f}s")
        walls: dict[int, list[float]] = {1: [], jobs: []}
        reports: dict[int, dict[str, Any]] = {}
        try:
            for n in range(rounds):
                for j in ((1, jobs) if n % 2 == 0 else (jobs, 1)):
                    seconds, reports[j] = cli_audit(bootstrap, prefix, j)
                    walls[j].append(seconds)
        finally:
            from kafka.admin import KafkaAdminClient

            from schemas.topics import Topics

            with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
                topics = Topics(prefix)
                admin.delete_topics([topics.events, topics.dead_letter], raise_errors=False)
        cpu = {j: reports[j].pop("cpu_s") for j in reports}
        for report in reports.values():
            report.pop("seconds"), report.pop("events_per_second")
        assert reports[1] == reports[jobs], "parallel audit report differs from the serial one"
        serial, par = statistics.median(walls[1]), statistics.median(walls[jobs])
        result["audit"] = {
            "serial_wall_s": serial, "parallel_wall_s": par, "walls": walls,
            "ratio": ratio(serial, par), "ok": reports[1]["ok"],
            "cpu_s_last_round": {"serial": cpu[1], "parallel": cpu[jobs]},
            "extrapolated_1m_parallel_s": par * 1_000_000 / events,
            "extrapolated_1m_serial_s": serial * 1_000_000 / events,
            "target_1m_s": TARGET_AUDIT_1M_S,
        }  # fmt: skip
        console.print(f"  piecework audit ({events:,} events, from Kafka): serial {serial:.1f}s, "
                      f"--jobs {jobs} {par:.1f}s (x{ratio(serial, par)}); 1M extrapolated "
                      f"linearly: {par * 1_000_000 / events:.0f}s")  # fmt: skip
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--jobs", type=int, default=default_jobs())
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-kafka", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.events, args.jobs, args.rounds, not args.no_kafka), indent=2))
