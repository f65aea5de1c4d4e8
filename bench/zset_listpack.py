"""Sorted sets kept as listpacks up to more entries: Redis bytes, fold time and reads, one run.

Redis keeps a sorted set as a listpack (member and score packed, ~20 B an entry) while it
holds at most `zset-max-listpack-entries`, else as a skiplist and a dict (~95 B an
entry); a listpack's inserts, removals and range reads are O(n) scans. This bench starts
two private redis-servers that differ only in that threshold (the launcher's LISTPACK
settings, deploy/redis_launcher.py, otherwise), and on each, in turn and `--repeat` times,
runs bench/redis_memory.py's side on this tree: N open tasks folded through every view
(fold seconds: the views' writes, ZADD and ZREM into the status and group sets included),
MEMORY USAGE per key family, GET /v1/tasks/{id}'s read and a batch listing; then the
server time of a status move (the batches view's ZREMs and ZADD) on sets of 100 to 1,000.

    .venv/bin/python -m bench.zset_listpack [--tasks 100000] [--repeat 3] [--entries 1024]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from bench.common import ROOT, console, tag
from bench.redis_memory import side_at
from deploy.redis_launcher import LISTPACK, redis_binary
from testkit.stack_processes import OWNER_KEY, free_port

FIGURES = ("bytes_per_task", "fold_s", "get_task_us", "listing_tasks_s")
MOVE_SIZES = (100, 500, 1000)  # members per set for move_us


def server(entries: int, into: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    config = {**LISTPACK, "zset-max-listpack-entries": str(entries)}
    args = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(into), "--daemonize", "no",
            *(a for name, value in config.items() for a in (f"--{name}", value))]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    return proc, url


# A status move as the batches view makes it (ZREM from the six other sets, ZADD to the
# new one), on sets of `size` members, `MOVES` times inside one script: server time only.
MOVE_LUA = """
local size, moves = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, size do redis.call('ZADD', KEYS[1], i * 16777216, 'req1:b7.0:' .. i) end
for i = 1, size do redis.call('ZADD', KEYS[2], i * 16777216 + 1, 'req1:b7.1:' .. i) end
local t0 = redis.call('TIME')
for i = 1, moves do
  local m = 'req1:b7.0:' .. (i % size + 1)
  local from, to = KEYS[1 + (i % 2)], KEYS[2 - (i % 2)]
  for k = 3, 7 do redis.call('ZREM', KEYS[k], m) end
  redis.call('ZREM', from, m)
  redis.call('ZADD', to, (i % size + 1) * 16777216, m)
end
local t1 = redis.call('TIME')
redis.call('DEL', unpack(KEYS))
return (t1[1] - t0[1]) * 1000000 + (t1[2] - t0[2])
"""
MOVES = 20_000


def move_us(url: str, size: int) -> float:
    """Server microseconds per status move between two sets of ~`size` members each."""
    client = redis.Redis.from_url(url)
    keys = [f"pw:bench:z{k}" for k in range(7)]
    return int(client.eval(MOVE_LUA, len(keys), *keys, size, MOVES)) / MOVES


def run(tasks: int = 100_000, repeat: int = 3, entries: int = 1024) -> dict[str, Any]:
    sizes = {"default": int(LISTPACK["zset-max-listpack-entries"]), "raised": entries}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sizes}
    with tempfile.TemporaryDirectory() as tmp:
        servers = {name: server(n, Path(tmp)) for name, n in sizes.items()}
        try:
            for r in range(repeat):
                for name in tuple(sizes) if r % 2 == 0 else tuple(reversed(sizes)):
                    url, mark = servers[name][1], f"bench-{tag()}"
                    client = redis.Redis.from_url(url, decode_responses=True)
                    client.flushdb()  # our own server
                    client.set(OWNER_KEY, mark)
                    found = side_at(ROOT, url, tasks, "api", mark)
                    found["move_us"] = {n: move_us(url, n) for n in MOVE_SIZES}
                    runs[name].append(found)
                    console.print(f"  {name} ({sizes[name]}) #{r + 1}: "
                                  f"{found['bytes_per_task']:,.0f} B/task, fold "
                                  f"{found['fold_s']:.1f} s, get {found['get_task_us']:,.0f} us, "
                                  f"listing {found['listing_tasks_s']:,.0f} tasks/s, "
                                  f"move {found['move_us']} us")  # fmt: skip
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(10)
    med = {name: {k: statistics.median(x[k] for x in rs) for k in FIGURES}
           for name, rs in runs.items()}  # fmt: skip
    ratios = [{k: a[k] / b[k] for k in FIGURES}
              for a, b in zip(runs["raised"], runs["default"], strict=True)]  # fmt: skip
    for name, rs in runs.items():
        med[name]["move_us"] = {n: statistics.median(x["move_us"][n] for x in rs)
                                for n in MOVE_SIZES}  # fmt: skip
    return {"tasks": tasks, "repeat": repeat, "entries": sizes, "median": med,
            "median_ratio_raised_default": {k: statistics.median(x[k] for x in ratios)
                                            for k in FIGURES},
            "by_family": {n: rs[0]["by_family"] for n, rs in runs.items()}}  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--entries", type=int, default=1024)
    args = parser.parse_args()
    print(json.dumps(run(args.tasks, args.repeat, args.entries), indent=1))
