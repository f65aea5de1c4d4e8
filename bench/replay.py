"""Replay speed: how fast the log folds back into aggregates and views, with no Kafka.

    .venv/bin/python -m bench.replay --events 120000 [--profile c] [--top 10] [--py-spy]

Generates a realistic log with the real domain (testkit/replay_log.py), encodes it with the
msgpack codec as it sits on the topic, then measures in events/s of CPU time (the process's
own, so a loaded shared machine skews the figures less than wall time would):
  0) msgpack.unpackb alone, a yardstick of the machine;   a) decode only;
  b) decode + Shard.apply (write side);  c) decode + consumers.engine.runner.fold_log (all views);
  d) the whole audit pass (decode, every check, fold, ledger totals, digests);
  e) the audit of a JSON-lines export of the same log (schemas.jsonform).
Then profiles one pass with cProfile (deterministic, inflates small functions) and, with
--py-spy, samples it with py-spy (own time per function and per module).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import msgpack

from audit.logfile import export
from audit.run import Options, audit
from audit.source import FileLog, Item
from broker.domain.shard import Shard
from consumers.engine.runner import fold_log
from consumers.stores.memory_store import MemoryStore
from runtime import gc_tuning
from schemas.codec import decode_events, decode_positioned
from testkit.replay_log import encode_log, make_log

Raw = tuple[int, int, bytes]
LABELS = {"0": "msgpack.unpackb (yardstick)", "a": "decode only", "b": "decode + Shard.apply",
          "c": "decode + fold_log (MemoryStore)", "d": "full audit pass (topic form)",
          "e": "full audit pass (export file)"}  # fmt: skip


class RawLog:
    """The encoded log as a LogSource: decoding happens inside the measured pass."""

    def __init__(self, raws: list[Raw]) -> None:
        self.raws, self.label = raws, "bench"
        self.total, self.done = len(raws), 0
        self.partitions = sorted({p for p, _, _ in raws})

    def items(self, until: int | None = None) -> Iterator[Item]:
        for p, o, raw in self.raws:
            yield from decode_positioned(p, o, raw)


# decode_only, decode_apply and decode_fold take the encoded log: bench/replay_speed.py
# (the benchmark suite) times them too.
def decode_only(raws: list[Raw]) -> None:
    for _, _, raw in raws:
        decode_events(raw)


def decode_apply(raws: list[Raw]) -> None:
    shards: dict[int, Shard] = {}
    for p, _, raw in raws:
        shard = shards.get(p) or shards.setdefault(p, Shard())
        for env in decode_events(raw):
            shard.apply(env)


def decode_fold(raws: list[Raw]) -> None:
    fold_log((rec for p, o, raw in raws for rec in decode_positioned(p, o, raw)), MemoryStore())


def full_audit(source: RawLog | FileLog) -> None:
    report = audit(source, Options(no_live_reason="bench"))
    assert report.ok, report.violations[:5]


def passes(raws: list[Raw], path: Path) -> dict[str, Callable[[], None]]:
    return {
        "0": lambda: [msgpack.unpackb(raw) for _, _, raw in raws] and None,
        "a": lambda: decode_only(raws),
        "b": lambda: decode_apply(raws),
        "c": lambda: decode_fold(raws),
        "d": lambda: full_audit(RawLog(raws)),
        "e": lambda: full_audit(FileLog(path)),
    }


def measured(run: Callable[[], None]) -> None:
    """A named frame around the pass, for py-spy's stacks."""
    run()


def cpu_seconds(fn: Callable[[], None]) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def cprofile(run: Callable[[], None], top: int) -> str:
    profiler = cProfile.Profile()
    profiler.runcall(run)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    return "\n".join(lines[-top - 1 :])


def py_spy(events: int, key: str, top: int) -> str:
    """Sample `--only key` in a child under py-spy; own samples per function and module."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "stacks.txt"
        child = [sys.executable, __file__, "--events", str(events), "--only", key]
        binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        spy = [binary, "record", "--format", "raw", "-r", "250", "-o", str(raw), "--", *child]
        try:
            subprocess.run(spy, check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            return f"py-spy did not run here: {exc}"
        own, modules, total = Counter(), Counter(), 0
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if "measured (" not in stack:  # only the measured pass, not the log's making
                continue
            leaf = stack.rsplit(";", 1)[-1]
            function, _, where = leaf.partition(" (")
            module = where.split(":")[0]
            own[f"{function} ({module})"] += int(count)
            modules[module] += int(count)
            total += int(count)
    rows = [f"{100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    rows += ["by module:"] + [f"{100 * n / total:5.1f}%  {m}" for m, n in modules.most_common(8)]
    return f"{total} samples\n" + "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=120_000)
    parser.add_argument("--profile", choices=sorted(LABELS), default="c")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--py-spy", action="store_true", help="also sample with py-spy")
    parser.add_argument("--only", choices=sorted(LABELS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    gc_tuning.tune()  # as `piecework audit` runs
    started = time.perf_counter()
    log = make_log(args.events)
    raws = encode_log(log)
    n = len(log)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        with path.open("w") as out:
            export(RawLog(raws), out)
        runs = passes(raws, path)
        if args.only:  # the child py-spy samples: one pass under a name to filter on
            measured(runs[args.only])
            return 0
        size = sum(len(r) for _, _, r in raws) / n
        print(f"{n:,} events in {len(raws):,} records ({size:.0f} B per event), made by "
              f"Shard.decide in {time.perf_counter() - started:.1f}s")  # fmt: skip
        rates = {key: n / min(cpu_seconds(run) for _ in range(2)) for key, run in runs.items()}
        for key, rate in rates.items():
            print(f"{key}) {LABELS[key]:<32} {rate:>10,.0f} events/s  "
                  f"{rate / rates['a']:5.2f} x decode")  # fmt: skip
        print(f"\ncProfile of {args.profile}) {LABELS[args.profile]}, top {args.top} by own time:")
        print(cprofile(runs[args.profile], args.top))
    if args.py_spy:
        print(f"\npy-spy of {args.profile}) {LABELS[args.profile]}, own time:")
        print(py_spy(args.events, args.profile, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
