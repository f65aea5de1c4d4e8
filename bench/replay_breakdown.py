"""Where one replay process spends its time per event (issue 14): decode, checks, projections,
the store's ops, the tracking of a parallel worker's store.

    .venv/bin/python -m bench.replay_breakdown --events 100000

Each stage runs alone over the whole log, already decoded where it is not the decode, so
the per-event microseconds add up to one audit worker's replay (reading from Kafka aside):

- decode: the Kafka records' bytes to envelopes (schemas.codec.decode_positioned);
- checks: the audit's five checks observing every event (audit/checks);
- project: every audited view's projection to ops (consumers.engine.runner.entries_for);
- apply: those entries into a MemoryStore, then into a TrackedStore (what a worker pays
  to make its store mergeable);
- report fold: the power view and the report's History over the same events (what
  `piecework report` replays).

CPU time (process_time: on a shared machine wall time measures the neighbours), medians of
`--rounds`; the shares name what a faster codec (schemas/) would take off.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from audit.checks import aggregates, credits, ids, sequences, wallets
from audit.tracked_store import TrackedStore
from bench.common import console
from consumers.engine.runner import VIEWS, entries_for
from consumers.power.report.history import History
from consumers.stores.memory_store import MemoryStore
from consumers.views import power
from runtime import gc_tuning
from schemas.codec import decode_positioned
from testkit.replay_log import encode_log, make_log


def _median(fn: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.process_time()  # CPU: the machine is shared, wall time is not ours
        fn()
        times.append(time.process_time() - started)
    return statistics.median(times)


def run(events: int, rounds: int) -> dict[str, Any]:
    gc_tuning.tune()
    raws = encode_log(sorted(make_log(events, partitions=8), key=lambda r: r[0]))
    records = [r for p, o, raw in raws for r in decode_positioned(p, o, raw)]
    n = len(records)
    batches = [records[i : i + 500] for i in range(0, n, 500)]
    entries = [entries_for(VIEWS, b) for b in batches]

    def decode() -> None:
        for p, o, raw in raws:
            decode_positioned(p, o, raw)

    def checks() -> None:
        observers = [c.observe for c in (ids.UniqueIds(), sequences.Sequences(),
                                         aggregates.Aggregates(), credits.Credits(),
                                         wallets.Wallets())]  # fmt: skip
        for partition, position, env in records:
            for observe in observers:
                observe(partition, position, env)

    def project() -> None:
        for b in batches:
            entries_for(VIEWS, b)

    def apply(kind: type[MemoryStore]) -> Callable[[], None]:
        def go() -> None:
            store = kind()
            for e in entries:
                store.apply(e)

        return go

    def report_fold() -> None:
        history, store = History("EUR"), MemoryStore()
        views = {power.VIEW: power.project}
        for b in batches:
            store.apply(entries_for(views, history.observe(b)))

    stages = {"decode": decode, "checks": checks, "project": project,
              "apply_memory": apply(MemoryStore), "apply_tracked": apply(TrackedStore),
              "report_fold": report_fold}  # fmt: skip
    us = {name: _median(fn, rounds) / n * 1e6 for name, fn in stages.items()}
    audit_us = us["decode"] + us["checks"] + us["project"] + us["apply_tracked"]
    result = {"events": n, "records": len(raws), "us_per_event": us,
              "audit_worker_us": audit_us,
              "shares": {k: us[k] / audit_us for k in ("decode", "checks", "project",
                                                       "apply_tracked")}}  # fmt: skip
    for name, value in us.items():
        console.print(f"  {name:<14} {value:6.2f} us/event")
    console.print(f"  audit worker {audit_us:.1f} us/event = {1e6 / audit_us:,.0f} events/s "
                  f"per core; decode is {us['decode'] / audit_us:.0%} of it")  # fmt: skip
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(run(args.events, args.rounds), indent=2))
