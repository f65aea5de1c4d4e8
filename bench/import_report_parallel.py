"""`piecework import` and `piecework report` serial against --jobs N (issue 14), wall and CPU.

    .venv/bin/python -m bench.import_report_parallel --events 100000 [--jobs 2] [--rounds 2]

A realistic log (testkit/replay_log.py, 8 partitions) exported partition after partition
as `piecework export` writes it; then, alternating, each command as a subprocess:
`piecework import FILE --jobs J` into a fresh deployment (its topics created first, not
timed) and `piecework report --events FILE --json --jobs J`. Wall time includes the
interpreter's start; CPU is the command's and its workers'. The outputs of the serial and
parallel runs must agree (the report's JSON but its `generated` minute; the imported
topics' records).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from audit.logfile import export
from audit.parallel import default_jobs
from audit.source import ListLog
from bench.common import ROOT, console, ratio
from testkit.replay_log import make_log


def _timed(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "deploy.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, done.stdout


def _topic_records(bootstrap: str, topic: str) -> list[tuple]:
    from runtime.kafka_io import read_topic

    return [(r.partition, r.offset, r.key, r.value) for r in read_topic(bootstrap, topic)]


def run(events: int, jobs: int, rounds: int) -> dict[str, Any]:
    from deploy.topics import create_topics
    from schemas.topics import Topics

    bootstrap = os.environ.get("PIECEWORK_KAFKA", "127.0.0.1:9092")
    env = {**os.environ, "PIECEWORK_KAFKA": bootstrap}
    log = sorted(make_log(events, partitions=8), key=lambda r: r[0])
    folder = Path(tempfile.mkdtemp(prefix="bench-import-"))
    path = folder / "events.jsonl"
    with path.open("w") as out:
        export(ListLog(log), out)
    console.print(f"  log: {len(log):,} events, {path.stat().st_size / 1e6:.0f} MB export")
    prefix = f"bench-imp-{uuid.uuid4().hex[:8]}"
    walls: dict[str, dict[int, list[float]]] = {"import": {1: [], jobs: []},
                                                 "report": {1: [], jobs: []}}  # fmt: skip
    cpus: dict[str, dict[int, list[float]]] = {"import": {1: [], jobs: []},
                                                "report": {1: [], jobs: []}}  # fmt: skip
    reports: dict[int, dict[str, Any]] = {}
    imported: dict[int, list[tuple]] = {}
    made: list[str] = []
    try:
        for n in range(rounds):
            for j in ((1, jobs) if n % 2 == 0 else (jobs, 1)):
                topics = Topics(f"{prefix}.{n}.{j}")
                create_topics(bootstrap, topics.creation_configs(), 8)
                made.append(topics.prefix)
                wall, cpu, _ = _timed(["import", str(path), "--prefix", topics.prefix,
                                       "--jobs", str(j)], env)  # fmt: skip
                walls["import"][j].append(wall)
                cpus["import"][j].append(cpu)
                if n == 0:
                    imported[j] = _topic_records(bootstrap, topics.events)
                wall, cpu, out = _timed(["report", "--events", str(path), "--json", "--floor",
                                         "6", "--jobs", str(j)], env)  # fmt: skip
                walls["report"][j].append(wall)
                cpus["report"][j].append(cpu)
                reports[j] = json.loads(out)
                reports[j]["provenance"].pop("generated")
    finally:
        from kafka.admin import KafkaAdminClient

        with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
            mine = [t for t in admin.list_topics() if t.startswith(f"{prefix}.")]
            admin.delete_topics(mine, raise_errors=False)
        path.unlink()
        folder.rmdir()
    assert reports[1] == reports[jobs], "the parallel report differs from the serial one"
    assert imported[1] == imported[jobs], "the parallel import wrote other records"
    result: dict[str, Any] = {"events": len(log), "jobs": jobs, "cpus": default_jobs(),
                              "load_average": os.getloadavg()}  # fmt: skip
    for command in ("import", "report"):
        serial, par = (statistics.median(walls[command][j]) for j in (1, jobs))
        result[command] = {
            "serial_wall_s": serial, "parallel_wall_s": par, "ratio": ratio(serial, par),
            "serial_cpu_s": statistics.median(cpus[command][1]),
            "parallel_cpu_s": statistics.median(cpus[command][jobs]),
            "serial_events_s": len(log) / serial, "parallel_events_s": len(log) / par,
            "walls": walls[command],
        }  # fmt: skip
        console.print(f"  piecework {command}: serial {serial:.1f}s, --jobs {jobs} {par:.1f}s "
                      f"(x{ratio(serial, par)}), {len(log) / par:,.0f} events/s")  # fmt: skip
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=default_jobs())
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(run(args.events, args.jobs, args.rounds), indent=2))
