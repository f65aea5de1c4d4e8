"""A parallel worker's store against a previous version of audit/tracked_store.py (issue 14).

    git show <commit>:audit/tracked_store.py > /tmp/old_tracked_store.py
    .venv/bin/python -m bench.tracked_store_compare --old /tmp/old_tracked_store.py --events 60000

The audited views' entries of a realistic log (8 partitions, one store per partition, as
the parallel audit's workers fold them) applied to a plain MemoryStore, the old
TrackedStore and the current one, alternating, medians of `--rounds`, CPU time (the
machine is shared); then each version's merge of the 8 stores, and the pickled size of
what a worker ships beside its store. The merged stores' digests must agree.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pickle
import statistics
import time
from typing import Any

import audit.tracked_store as new
from bench.common import console
from consumers.engine.runner import VIEWS, entries_for
from consumers.stores.memory_store import MemoryStore
from runtime import gc_tuning
from testkit.replay_log import make_log


def run(old_path: str, events: int, rounds: int) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("old_tracked_store", old_path)
    assert spec is not None and spec.loader is not None
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    gc_tuning.tune()
    log = sorted(make_log(events, partitions=8), key=lambda r: r[0])
    by_partition: dict[int, list] = {}
    for record in log:
        by_partition.setdefault(record[0], []).append(record)
    entries = {p: [entries_for(VIEWS, rs[i : i + 500]) for i in range(0, len(rs), 500)]
               for p, rs in sorted(by_partition.items())}  # fmt: skip
    kinds = {"memory": MemoryStore, "old": old.TrackedStore, "new": new.TrackedStore}
    apply: dict[str, list[float]] = {name: [] for name in kinds}
    merge: dict[str, list[float]] = {"old": [], "new": []}
    shipped_bytes, digest = {}, {}
    for n in range(rounds):
        for name in (list(kinds) if n % 2 == 0 else list(reversed(kinds))):
            started = time.process_time()
            stores = []
            for batches in entries.values():
                store = kinds[name]()
                for batch in batches:
                    store.apply(batch)
                stores.append(store)
            apply[name].append(time.process_time() - started)
            if name == "memory":
                continue
            parts = [store.shipped() for store in stores]
            module = old if name == "old" else new
            started = time.process_time()
            merged = module.merge(parts)
            merge[name].append(time.process_time() - started)
            assert merged is not None, "a well-formed log merges"
            digest[name] = merged.digest("pw:")
            shipped_bytes[name] = sum(len(pickle.dumps(part[1:], protocol=5)) for part in parts)
    assert digest["old"] == digest["new"], "the two versions merge to different stores"
    us = {f"apply_{k}": statistics.median(v) / len(log) * 1e6 for k, v in apply.items()}
    us.update({f"merge_{k}": statistics.median(v) / len(log) * 1e6 for k, v in merge.items()})
    memory = us["apply_memory"]
    result = {
        "events": len(log), "us_per_event": us,
        "tracking_overhead": {k: us[f"apply_{k}"] / memory - 1 for k in ("old", "new")},
        "shipped_tracking_bytes_per_event": {k: v / len(log) for k, v in shipped_bytes.items()},
    }  # fmt: skip
    for name, value in us.items():
        console.print(f"  {name:<14} {value:6.2f} us/event")
    console.print(f"  tracking overhead on the store's apply: old "
                  f"{result['tracking_overhead']['old']:.0%}, new "
                  f"{result['tracking_overhead']['new']:.0%}")  # fmt: skip
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", required=True, help="a previous audit/tracked_store.py")
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(run(args.old, args.events, args.rounds), indent=2))
