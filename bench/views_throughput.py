"""Views throughput: events/s that ONE views process folds, end to end (Kafka, Faust, Redis).

    .venv/bin/python -m bench.views_throughput [--events 60000] [--partitions 4] [--no-profile]

A realistic log (testkit.replay_log: the real domain decided every event) is produced raw
into a fresh topic prefix; then one `piecework run views` process starts on an empty
Redis DB and folds it. The fold is timed from the first applied batch to the store
holding the last offset of every partition (start-up and group join reported apart),
py-spy samples the process meanwhile (all threads), and /proc gives the CPU it and the
Redis server spent. The same log is then folded in-process without Kafka or Faust, phase
by phase (decode, project, apply), which splits the cost between Faust and the worker.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import KAFKA, REDIS_BASE, CpuMeter, collapse, console, machine

DBS = (3, 2, 1)
BATCH = 500
OURS = {"consumers", "schemas", "broker"}
STDLIB = {"asyncio", "concurrent", "json", "collections", "importlib", "logging"}


def _pyspy(pid: int, out: Path) -> subprocess.Popen:
    """Samples of the thread holding the GIL (--gil): where the interpreter's time goes."""
    exe = Path(sys.executable).parent / "py-spy"
    cmd = [str(exe), "record", "--pid", str(pid), "--rate", "250", "--format", "raw",
           "--threads", "--gil", "--nonblocking", "-o", str(out)]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _threads(raw: str) -> dict[str, float]:
    """Share of the active samples per thread (py-spy --threads names them)."""
    per: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():  # "thread (tid): name;frame;frame... count"
            per[stack.split(";", 1)[0].rpartition(": ")[2]] += int(count)
    total = sum(per.values()) or 1
    return {name: 100 * n / total for name, n in per.most_common(6)}


def in_process(raws: list[tuple[int, int, bytes]], url: str) -> dict[str, dict[str, float]]:
    """The worker's own work without Kafka or Faust, phase by phase: events/s (wall) and
    this process's CPU microseconds per event (Redis's own CPU not included)."""
    from consumers.engine.runner import VIEWS, entries_for
    from consumers.stores.redis_store import RedisStore
    from schemas.codec import decode_positioned

    store = RedisStore.from_url(url)
    store.client.flushdb()
    marks = [(time.perf_counter(), time.process_time())]
    records = [rec for p, o, v in raws for rec in decode_positioned(p, o, v)]
    marks.append((time.perf_counter(), time.process_time()))
    n = len(records)
    batches = [entries_for(VIEWS, records[i : i + BATCH]) for i in range(0, n, BATCH)]
    marks.append((time.perf_counter(), time.process_time()))
    for entries in batches:
        store.apply(entries)
    marks.append((time.perf_counter(), time.process_time()))
    store.client.flushdb()
    store.client.close()
    phases = {"decode": (0, 1), "project": (1, 2), "apply (Lua)": (2, 3), "all three": (0, 3)}
    return {name: {"events_s": n / (marks[b][0] - marks[a][0]),
                   "cpu_us": 1e6 * (marks[b][1] - marks[a][1]) / n}
            for name, (a, b) in phases.items()}  # fmt: skip


def _packages(raw: str) -> dict[str, float]:
    """Share of the samples per package of the leaf frame: who burns the interpreter."""
    per: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        # py-spy names a file by its import path: "faust/streams.py", "threading.py".
        parts = Path(leaf.partition(" (")[2].rpartition(":")[0]).parts
        name = parts[0] if len(parts) > 1 else "stdlib (top level)"
        if name in OURS:
            name = f"piecework {name}"
        elif name in STDLIB:
            name = f"stdlib {name}"
        per[name] += int(count)
    total = sum(per.values()) or 1
    return {name: 100 * n / total for name, n in per.most_common(14)}


def run(events: int = 60_000, partitions: int = 4, profile: bool = True) -> dict[str, Any]:
    from consumers.stores.redis_store import RedisStore
    from deploy.topics import create_topics
    from runtime.settings import Settings
    from schemas.topics import Topics
    from testkit.replay_log import make_log
    from testkit.views_kit import behind, last_offsets, own_db, produce, start_views, stop
    from testkit.views_kit import stored_offsets as stored

    tag = uuid.uuid4().hex[:8]
    prefix = f"b.views.{tag}"
    work = Path(tempfile.mkdtemp(prefix="pw-views-bench-"))
    console.print(f"building a log of {events:,} events ...")
    log = make_log(events, partitions=partitions)
    with own_db(REDIS_BASE, DBS, tag) as url:
        settings = Settings(kafka=KAFKA, redis=url, topics=Topics(prefix), partitions=partitions)
        create_topics(KAFKA, settings.topics.creation_configs(), partitions)
        produce(KAFKA, settings.topics.events, log)
        raws = _read_raw(settings)
        last = last_offsets(log)  # positions: the bench's log and the topic's agree
        env = {"PIECEWORK_KAFKA": KAFKA, "PIECEWORK_REDIS": url, "PIECEWORK_TOPIC_PREFIX": prefix,
               "PIECEWORK_PARTITIONS": str(partitions), "PIECEWORK_LOG_LEVEL": "WARNING",
               "PIECEWORK_DATA_DIR": str(work)}  # fmt: skip
        import os

        env = {**os.environ, **env}
        store = RedisStore.from_url(url)
        started = time.perf_counter()
        views = start_views(env, "bench", work / "views.log")
        try:
            while not any(stored(store)["ledger"].values()):
                assert views.poll() is None, (work / "views.log").read_text()[-2000:]
                time.sleep(0.005)
            first = time.perf_counter()
            spy = _pyspy(views.pid, work / "spy.txt") if profile else None
            with CpuMeter({"views process": views.pid}) as cpu:
                while behind(store, last) > 0:
                    assert views.poll() is None, (work / "views.log").read_text()[-2000:]
                    time.sleep(0.01)
            done = time.perf_counter()
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
        finally:
            stop(views)
            store.client.close()
            _drop(settings)
        flat = in_process(raws, url)
    fold_s = done - first
    result: dict[str, Any] = {
        "events": len(log), "records": len(raws), "partitions": partitions,
        "startup_s": first - started, "fold_s": fold_s, "events_s": len(log) / fold_s,
        "cold_events_s": len(log) / (done - started), "cpu": cpu.summary(len(log)),
        "in_process_events_s": flat, "machine": machine(),
    }  # fmt: skip
    spy_out = work / "spy.txt"
    if profile and spy_out.exists():
        raw = spy_out.read_text()
        result["profile"] = {**collapse(raw, 15), "threads": _threads(raw),
                             "packages": _packages(raw)}  # fmt: skip
    return result


def _read_raw(settings: Any) -> list[tuple[int, int, bytes]]:
    from runtime.kafka_io import read_topic

    return [(r.partition, r.offset, r.value)
            for r in read_topic(settings.kafka, settings.topics.events, "views-bench")]  # fmt: skip


def _drop(settings: Any) -> None:
    from kafka.admin import KafkaAdminClient

    with KafkaAdminClient(bootstrap_servers=settings.kafka) as admin:
        mine = [t for t in admin.list_topics() if t.startswith(settings.topics.prefix)]
        admin.delete_topics(mine, raise_errors=False)


def show(r: dict[str, Any]) -> None:
    print(
        f"\n{r['events']:,} events on {r['partitions']} partitions, "
        f"{r['machine']['nproc']} CPUs ({r['machine']['cpu']})"
    )
    print(
        f"one views process: {r['events_s']:,.0f} events/s over {r['fold_s']:.1f}s of fold "
        f"(start-up and group join {r['startup_s']:.1f}s; {r['cold_events_s']:,.0f} "
        f"events/s counting it)"
    )
    for name, c in r["cpu"].items():
        print(
            f"  cpu {name:<16} {c['cpu_s']:6.1f}s  {c['cores']:4.2f} cores  "
            f"{c['ms_per_1k']:6.1f} ms per 1,000 events"
        )
    flat = r["in_process_events_s"]
    print(
        "the worker's own work in-process (no Kafka, no Faust): "
        + ", ".join(
            f"{k} {v['events_s']:,.0f}/s ({v['cpu_us']:.0f} us CPU/event)" for k, v in flat.items()
        )
    )
    prof = r.get("profile")
    if not prof:
        return
    print(
        f"py-spy: {prof['samples']} active samples; by thread: "
        + ", ".join(f"{k} {v:.0f}%" for k, v in prof["threads"].items())
    )
    print("by package (self): " + ", ".join(f"{k} {v:.0f}%" for k, v in prof["packages"].items()))
    print("by source (self): " + ", ".join(f"{f} {p:.0f}%" for f, p in prof["files"][:10]))
    print("top frames (self):")
    for frame, pct in prof["self"]:
        print(f"  {pct:5.1f}%  {frame}")
    print("top frames (inclusive):")
    for frame, pct in prof["inclusive"]:
        print(f"  {pct:5.1f}%  {frame}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    show(run(args.events, args.partitions, not args.no_profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
