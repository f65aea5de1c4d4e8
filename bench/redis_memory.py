"""Redis bytes per open task and the task reads, old view layout beside the new, one run.

The "before" tree is this working tree with the view modules the compaction changed put
back as they were at a baseline commit (`git archive`, read only); the "after" tree is
this working tree. Each side runs in its own subprocess, on an empty Redis DB (default
7) the bench holds as a test stack holds its own (testkit's owner key), in turn and
`--repeat` times (alternating), and:

- folds N open tasks (TaskPosted; a TaskClaimed on every 10th) through every view of
  the registry with RedisStore.apply, 500 tasks a call; tasks come as the API posts
  them: 500-task chunks `b{k}.{c}` of 200 requesters (`--layout api`), or as
  bench/memory.py makes them, 5 tasks per requester and batch (`--layout memory`);
- reports MEMORY USAGE per task of each key family (`pw:view:kind`, 300 keys sampled
  per family) and their sum, the figure compared: used_memory's growth is reported too,
  but the Redis server is shared with other stacks, whose writes land in it;
- times the reads the API serves: GET /v1/tasks/{id}'s read (2,000 single tasks, one
  call each) and a batch's task listing (consumers.queries.listings.batch_tasks_page,
  100 a page, cursor followed), with the side's own code.

Bytes are exact per run; read times are medians of the repeats (the machine is shared),
with the after/before ratios of each run.

    .venv/bin/python -m bench.redis_memory [--tasks 100000] [--repeat 3] [--layout api]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import ROOT, console, redis_url, tag

# main before the queue's and groups' task hashes were bucketed and the batches view's
# all-tasks set dropped (issue 14). The first compaction (tasks view, expiries) was
# measured against 0a178ac with `CHANGED` its three modules (docs/DESIGN.md).
BASELINE = "29f4fc1"
CHANGED = (
    "consumers/views/queue.py",
    "consumers/views/task_groups.py",
    "consumers/views/batches.py",
    "consumers/queries/listings.py",
    "consumers/stores/ops.py",
    "consumers/stores/memory_store.py",
    "consumers/stores/redis_store.py",
)  # fmt: skip

SIDE_SCRIPT = r"""
import json, random, sys, time
tree, url, n, layout = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sys.path.insert(0, tree)
import redis
from consumers.engine.runner import VIEWS, entries_for
from consumers.queries import listings
from consumers.stores.redis_store import RedisStore
from consumers.views import tasks_view
from schemas.envelope import EventEnvelope
from schemas.events import TaskClaimed, TaskPosted
T0 = 1_700_000_000_000
CHOICES = ["cat", "dog", "bird", "horse", "other"]
def ids(i):
    if layout == "memory":  # bench/memory.py's: 5 tasks per requester and batch
        return f"req{i % 200}", f"b{i // 1000}", i % 1000
    chunk = i // 500  # the API's: 500-task chunks, a batch of 2 chunks per requester
    return f"req{(chunk // 2) % 200}", f"b{chunk // 400}.{chunk % 2}", i % 500
def events(i):
    r, b, j = ids(i)
    task_id = f"{r}:{b}:{j}"
    posted = TaskPosted(task_id, r, b, "image_labelling", "Which animal is this?", 30_000,
                        6_000, "EUR", 1, 900, T0 + 7 * 86_400_000, 259_200, 15, 0, ("fold",),
                        {"url": f"https://cdn.example.org/b/img-{i:08d}.jpg", "choices": CHOICES},
                        None, False)
    out = [EventEnvelope(f"c{i}/1", f"task:{task_id}", 1, T0 + (i // 500), f"c{i}", f"c{i}",
                         f"c{i}", r, posted)]
    if i % 10 == 0:
        claim = TaskClaimed(task_id, f"{task_id}:c1", f"w{i % 5_000}", T0 + i + 900_000)
        out.append(EventEnvelope(f"k{i}/0", f"task:{task_id}", 2, T0 + i, f"k{i}", f"k{i}",
                                 f"k{i}", f"w{i % 5_000}", claim))
    return out
OWNER = "pw:test-stack:owner"  # the bench holds the DB as a test stack does (testkit)
client = redis.Redis.from_url(url, decode_responses=True)
if client.dbsize() != 1 or client.get(OWNER) != sys.argv[5]:
    sys.exit(f"{url} is not this bench's empty DB")
store = RedisStore(client)
before = client.info("memory")["used_memory"]
offset, started = 0, time.perf_counter()
for b in range(0, n, 500):
    records = []
    for i in range(b, min(n, b + 500)):
        for env in events(i):
            records.append((1_000, offset, env))
            offset += 1
    store.apply(entries_for(VIEWS, records))
fold_s = time.perf_counter() - started
used = client.info("memory")["used_memory"] - before
families = {}
for key in client.scan_iter(match="pw:*", count=1_000):
    if key == OWNER:
        continue
    families.setdefault(":".join(key.split(":")[:3]), []).append(key)
rng, by_family = random.Random(0), {}
for family, keys in families.items():
    picked = rng.sample(keys, min(300, len(keys)))
    size = sum(client.memory_usage(k, samples=0) or 0 for k in picked)
    by_family[family] = round(size * len(keys) / len(picked) / n, 1)
try:
    from consumers.views import task_record
    read_one = task_record.read_task
except ImportError:
    def read_one(reader, task_id):
        return reader.hgetall(tasks_view.task_key(task_id))
pick = random.Random(1)  # the same tasks on both sides
picked = [pick.randrange(n) for _ in range(2_000)]
names = [":".join(map(str, ids(i))) for i in picked]
got = [read_one(store, t) for t in names[:50]]
assert all(g.get("status") and g.get("payload") for g in got), got[:2]
started = time.perf_counter()
for t in names:
    read_one(store, t)
get_us = (time.perf_counter() - started) / len(names) * 1e6
r, b, _ = ids(n // 2)
b = b.partition(".")[0]  # the batch as the requester named it (consumers.views.batches)
rows, pages, started = 0, 0, time.perf_counter()
while time.perf_counter() - started < 2.0:
    cursor = None
    while True:
        items, after = listings.batch_tasks_page(store, r, b, None, cursor, 100)
        rows += len(items)
        pages += 1
        if after is None:
            break
        cursor = listings.decode_cursor(after)
list_s = time.perf_counter() - started
sample = json.dumps(read_one(store, names[0]), sort_keys=True)
for family in families.values():  # every key but the owner's
    for i in range(0, len(family), 1_000):
        client.unlink(*family[i : i + 1_000])
print(json.dumps({"tasks": n, "keys": sum(map(len, families.values())), "used_bytes": used,
                  "used_memory_per_task": used / n, "by_family": by_family, "fold_s": fold_s,
                  "bytes_per_task": sum(by_family.values()),
                  "get_task_us": get_us, "listing_tasks_s": rows / list_s,
                  "listing_page_us": list_s / pages * 1e6, "sample_task": sample}))
"""


def baseline_tree(commit: str, into: Path) -> Path:
    """This working tree, with `CHANGED` as they were at `commit`."""
    tree = into / "before"
    tree.mkdir()
    copy = subprocess.run(["tar", "-C", str(ROOT), "--exclude=./.venv", "--exclude=./.git",
                           "--exclude=./var", "--exclude=./bench", "--exclude=__pycache__",
                           "-cf", "-", "."], check=True, capture_output=True).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(copy)) as tar:
        tar.extractall(tree, filter="data")
    archive = subprocess.run(["git", "archive", commit, *CHANGED], cwd=ROOT, check=True,
                             capture_output=True).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    return tree


@contextmanager
def owned_db(db: int) -> Iterator[str]:
    """Hold Redis DB `db` as testkit's stacks hold theirs (its owner key, set only if the
    DB is empty and unowned), so no test stack claims and flushes it meanwhile."""
    import redis

    from testkit.stack_processes import OWNER_KEY, OWNER_TTL_S

    client, mark = redis.Redis.from_url(redis_url(db), decode_responses=True), f"bench-{tag()}"
    if client.dbsize() or not client.set(OWNER_KEY, mark, nx=True, ex=OWNER_TTL_S):
        raise SystemExit(f"Redis DB {db} is in use: pass another --db")
    try:
        yield mark
    finally:
        if client.get(OWNER_KEY) == mark:
            client.delete(OWNER_KEY)
        client.close()


def side(tree: Path, db: int, tasks: int, layout: str, mark: str) -> dict[str, Any]:
    return side_at(tree, redis_url(db), tasks, layout, mark)


def side_at(tree: Path, url: str, tasks: int, layout: str, mark: str) -> dict[str, Any]:
    """One side's figures, folded into the empty DB at `url` whose owner key is `mark`."""
    out = subprocess.run([sys.executable, "-c", SIDE_SCRIPT, str(tree), url, str(tasks),
                          layout, mark], cwd=tree, check=True, capture_output=True,
                         text=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(tasks: int = 100_000, repeat: int = 3, layout: str = "api", db: int = 7,
        commit: str = BASELINE) -> dict[str, Any]:  # fmt: skip
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp, owned_db(db) as mark:
        trees = {"before": baseline_tree(commit, Path(tmp)), "after": ROOT}
        for r in range(repeat):
            for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
                found = side(trees[name], db, tasks, layout, mark)
                runs[name].append(found)
                console.print(f"  {name} #{r + 1}: {found['bytes_per_task']:,.0f} B/task, "
                              f"get {found['get_task_us']:,.0f} us, listing "
                              f"{found['listing_tasks_s']:,.0f} tasks/s")  # fmt: skip
    same = runs["before"][0]["sample_task"] == runs["after"][0]["sample_task"]
    med = {name: {k: statistics.median(x[k] for x in rs) for k in
                  ("bytes_per_task", "used_memory_per_task", "get_task_us", "listing_tasks_s",
                   "listing_page_us")}
           for name, rs in runs.items()}  # fmt: skip
    ratios = [{k: a[k] / b[k] for k in ("bytes_per_task", "used_memory_per_task",
                                        "get_task_us", "listing_tasks_s")}
              for a, b in zip(runs["after"], runs["before"], strict=True)]  # fmt: skip
    return {"tasks": tasks, "layout": layout, "baseline": commit, "repeat": repeat,
            "same_task_read": same, "median": med,
            "median_ratio_after_before": {k: statistics.median(x[k] for x in ratios)
                                          for k in ratios[0]},
            "at_1m_mb_extrapolated": {n: m["bytes_per_task"] * 1e6 / 2**20
                                      for n, m in med.items()},
            "by_family": {n: rs[0]["by_family"] for n, rs in runs.items()},
            "runs": runs}  # fmt: skip


def for_run(quick: bool) -> dict[str, Any]:
    """bench/run.py's entry: smaller and once in quick mode."""
    return run(tasks=20_000 if quick else 100_000, repeat=1 if quick else 3)


def section(r: dict[str, Any]) -> str:
    med, ratio = r["median"], r["median_ratio_after_before"]
    lines = [
        f"## Redis bytes per open task, old layout beside new ({r['tasks']:,} tasks, "
        f"layout {r['layout']}, median of {r['repeat']})",
        "",
        "| figure | before | after | after/before |",
        "|---|---|---|---|",
    ]
    for key, label in (
        ("bytes_per_task", "MEMORY USAGE per task, all keys (B)"),
        ("used_memory_per_task", "used_memory growth per task (B, shared server)"),
        ("get_task_us", "GET task read (us)"),
        ("listing_tasks_s", "batch listing (tasks/s)"),
    ):
        lines.append(
            f"| {label} | {med['before'][key]:,.0f} | {med['after'][key]:,.0f} | {ratio[key]:.2f} |"
        )
    mb = r["at_1m_mb_extrapolated"]
    lines += [
        "",
        f"At 1M tasks (linear extrapolation): {mb['before']:,.0f} -> "
        f"{mb['after']:,.0f} MB. Same task read back: {r['same_task_read']}.",
        "",
        "| key family | B/task before | B/task after |",
        "|---|---|---|",
    ]
    fams = sorted(
        set(r["by_family"]["before"]) | set(r["by_family"]["after"]),
        key=lambda f: -r["by_family"]["before"].get(f, 0),
    )
    for f in fams:
        b, a = r["by_family"]["before"].get(f, 0), r["by_family"]["after"].get(f, 0)
        if max(a, b) >= 0.5:
            lines.append(f"| `{f}` | {b:,.1f} | {a:,.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--layout", choices=("api", "memory"), default="api")
    parser.add_argument("--db", type=int, default=7)
    parser.add_argument("--baseline", default=BASELINE)
    args = parser.parse_args()
    found = run(args.tasks, args.repeat, args.layout, args.db, args.baseline)
    print(json.dumps({k: v for k, v in found.items() if k != "runs"}, indent=1))
    print(section(found))
