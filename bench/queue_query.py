"""Queue candidates on a big queue: fill N open tasks, time `candidates` for many workers.

    PIECEWORK_REDIS=redis://127.0.0.1:6379/0 .venv/bin/python bench/queue_query.py \
        --tasks 1000000 --queries 1000 --db 12

Uses a throwaway DB (>= 5) that must be empty, or --flush to empty it; it is flushed
again at the end unless --keep. Tasks are written with pipelining, using the keys and
values the queue projection itself produces. Prints p50/p90/p99 in microseconds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import redis

from consumers.queries.queue_query import candidates
from consumers.stores.ops import ZSYNC
from consumers.stores.redis_store import RedisStore
from consumers.views import queue
from runtime.settings import Settings
from schemas.envelope import EventEnvelope
from schemas.events import TaskPosted

T0 = 1_700_000_000_000
# (signature's qualifications, weight): most tasks need nothing, some need a skill or two.
SHAPES = [((), 50), (("en",), 10), (("fr",), 8), (("audio",), 6), (("audio", "en"), 6),
          (("audio", "fr"), 4), (("de",), 4), (("medical",), 3), (("en", "medical"), 3),
          (("legal",), 2), (("de", "legal"), 2), (("adult",), 2)]  # fmt: skip
PROFILES = [[], ["en"], ["en", "audio"], ["fr", "audio", "en"], ["de", "legal"], ["medical", "en"]]


def posted(i: int, rng: random.Random) -> EventEnvelope:
    quals = rng.choices([s for s, _ in SHAPES], [w for _, w in SHAPES])[0]
    priority = 0 if rng.random() < 0.9 else rng.randint(1, 10)
    task_id = f"req{i % 500}:b{i // 1000}:{i % 1000}"
    event = TaskPosted(task_id, f"req{i % 500}", f"b{i // 1000}", "image_labelling", "", 300, 60,
                       "EUR", 3, 900, T0 + 86_400_000, 3600, 30, priority, quals, None, "ref",
                       False)  # fmt: skip
    return EventEnvelope(f"e{i}", task_id, 1, T0 + i, "c", "c", "", "req", event)


def fill(client: redis.Redis, tasks: int, rng: random.Random) -> float:
    started = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for i in range(tasks):
        ops = queue.project(posted(i, rng))
        fields = {op[2]: op[3] for op in ops if op[0] == "HSET"}
        for op in ops:
            if op[0] == ZSYNC:  # a fresh task has free assignments: ZSYNC means ZADD
                pipe.zadd(fields["zset"], {op[2]: fields["score"]})
            else:
                pipe.execute_command(*op)
        if i % 2_000 == 1_999:
            pipe.execute()
    pipe.execute()
    return time.perf_counter() - started


def claim_heads(client: redis.Redis, workers: int, depth: int) -> None:
    """Give some workers a history: they already claimed the head of the open queue."""
    head = [m for m in client.zrange(queue.open_key(""), 0, depth - 1)]
    for w in range(workers):
        client.sadd(queue.claimed_key(f"busy{w}"), *head)


def timed(store: RedisStore, worker: str, quals: list[str], limit: int) -> tuple[float, int]:
    started = time.perf_counter_ns()
    found = candidates(store, worker, quals, limit)
    return (time.perf_counter_ns() - started) / 1_000, len(found)


def report(label: str, micros: list[float]) -> None:
    q = statistics.quantiles(micros, n=100)
    print(f"{label:<34} n={len(micros):<5} p50={q[49]:7.0f} us  p90={q[89]:7.0f} us  "
          f"p99={q[98]:7.0f} us  max={max(micros):7.0f} us")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--db", type=int, default=12)
    parser.add_argument("--flush", action="store_true")
    parser.add_argument("--keep", action="store_true", help="leave the filled DB for --reuse")
    parser.add_argument("--reuse", action="store_true", help="query what --keep left")
    args = parser.parse_args()
    if args.db < 5:
        sys.exit("use a throwaway DB >= 5")
    base = Settings.from_env().redis
    client = redis.Redis.from_url(
        urlunsplit(urlsplit(base)._replace(path=f"/{args.db}")), decode_responses=True
    )
    rng = random.Random(7)
    if args.reuse and client.exists(queue.SIGS):
        print(f"reusing {sum(client.zcard(queue.open_key(s)) for s in client.smembers(queue.SIGS))}"
              " open tasks")  # fmt: skip
    elif client.dbsize() and not args.flush:
        sys.exit(f"DB {args.db} is not empty; pass --flush to empty it")
    else:
        client.flushdb()
        seconds = fill(client, args.tasks, rng)
        print(f"filled {args.tasks} open tasks in {seconds:.1f} s "
              f"({args.tasks / seconds:,.0f} tasks/s pipelined); "
              f"redis used_memory={client.info('memory')['used_memory_human']}")  # fmt: skip
        claim_heads(client, 10, 1_000)
    try:
        store = RedisStore(client)
        for _ in range(50):  # warm up connections and the server's caches
            timed(store, "warm", ["en"], args.limit)
        plain, deep, empty = [], [], 0
        for q in range(args.queries):
            busy = q % 10 == 0  # one query in ten: a worker that claimed the top 1,000
            worker = f"busy{q % 100 // 10}" if busy else f"w{rng.randint(0, 10**6)}"
            micros, found = timed(store, worker, rng.choice(PROFILES), args.limit)
            (deep if busy else plain).append(micros)
            empty += found < args.limit
        report("all queries", plain + deep)
        report("fresh workers", plain)
        report("workers who claimed the top 1000", deep)
        print(f"queries returning fewer than {args.limit}: {empty}")
    finally:
        if not args.keep:
            client.flushdb()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
