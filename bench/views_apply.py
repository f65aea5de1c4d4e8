"""Apply throughput of the views: all five views, batches of 500 events, one Lua call each.

    PIECEWORK_REDIS=redis://127.0.0.1:6379/0 .venv/bin/python bench/views_apply.py \
        --events 100000 --batch 500 --db 14

The event stream is a plausible mix (per task: posted, claimed, then submitted and
approved and credited, or released, or rejected; deposits and payouts between). Prints
events/s end to end (projection + encoding + Redis), for the Redis call alone, for a
full redelivery (every event skipped), and for the in-memory store (replay, audit).
The DB (>= 5) must be empty or --flush given; it is flushed at the end.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import zlib
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import redis

from consumers.engine.runner import VIEWS, entries_for
from consumers.stores.memory_store import MemoryStore
from consumers.stores.redis_store import RedisStore
from consumers.stores.store import Store
from runtime.settings import Settings
from schemas import events as ev
from schemas.envelope import EventEnvelope
from schemas.positions import Positioned

T0 = 1_700_000_000_000
PARTITIONS = 12
REWARD, FEE = 300, 60


def stream(count: int, rng: random.Random) -> Iterator[EventEnvelope]:
    """An endless-looking log of task lifecycles, cut at `count` events."""
    n, now = 0, T0

    def env(owner: str, event: object) -> EventEnvelope:
        return EventEnvelope(f"e{n}", owner, 1, now, "c", "c", "", owner, event)

    for i in range(count):
        r, w = f"req{i % 200}", f"w{rng.randint(0, 20_000)}"
        task = f"{r}:b{i}:0"
        now += rng.randint(1, 50)
        life: list[tuple[str, object]] = [(r, ev.TaskPosted(
            task, r, f"b{i}", "image_labelling", "", REWARD, FEE, "EUR", 1, 900, now + 86_400_000,
            3600, 30, rng.choice((0, 0, 0, 5)), rng.choice(((), (), ("en",), ("audio", "fr"))),
            {"url": f"https://example.org/{i}.png"}, None, False,
        ))]  # fmt: skip
        claim = f"{task}:c0"
        life.append((r, ev.TaskClaimed(task, claim, w, now + 900_000)))
        fate = rng.random()
        if fate < 0.1:
            life.append((r, ev.ClaimReleased(task, claim, w, now, 0, "EUR")))
        else:
            answer = {"label": "cat"}
            life.append((r, ev.WorkSubmitted(task, claim, claim, w, answer, now, now + 3_600_000)))
            if fate < 0.2:
                unit = REWARD + FEE
                life.append((r, ev.SubmissionRejected(task, claim, w, r, "no", now, unit, "EUR")))
            else:
                approved = ev.SubmissionApproved(task, claim, w, r, REWARD, FEE, "EUR", now, False)
                life.append((r, approved))
                life.append((w, ev.WorkerCredited(w, f"e{n}", r, task, REWARD, "EUR")))
        if i % 50 == 0:
            life.append((r, ev.FundsDeposited(r, 10**9, "EUR")))
            life.append((w, ev.PayoutIssued(w, f"p{i}", REWARD, "EUR")))
        for owner, event in life:
            yield env(owner, event)
            n += 1
            if n >= count:
                return


def records(count: int) -> list[Positioned]:
    offsets = [0] * PARTITIONS
    out = []
    for env in stream(count, random.Random(11)):
        p = zlib.crc32(env.aggregate_id.encode()) % PARTITIONS
        out.append((p, offsets[p], env))
        offsets[p] += 1
    return out


def run(store: Store, log: list[Positioned], batch: int) -> tuple[float, float, int]:
    """(total seconds, seconds inside store.apply, entries applied)."""
    total = in_store = 0.0
    applied = 0
    for i in range(0, len(log), batch):
        started = time.perf_counter()
        entries = entries_for(VIEWS, log[i : i + batch])
        before_store = time.perf_counter()
        applied += store.apply(entries)
        done = time.perf_counter()
        total += done - started
        in_store += done - before_store
    return total, in_store, applied


def report(label: str, n: int, figures: tuple[float, float, int]) -> None:
    total, in_store, applied = figures
    print(f"{label}: {n / total:9,.0f} events/s end to end, {n / in_store:9,.0f} events/s "
          f"in store.apply; {applied} (view, event) entries applied")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--db", type=int, default=14)
    parser.add_argument("--flush", action="store_true")
    args = parser.parse_args()
    if args.db < 5:
        sys.exit("use a throwaway DB >= 5")
    base = Settings.from_env().redis
    url = urlunsplit(urlsplit(base)._replace(path=f"/{args.db}"))
    client = redis.Redis.from_url(url, decode_responses=True)
    if client.dbsize() and not args.flush:
        sys.exit(f"DB {args.db} is not empty; pass --flush to empty it")
    client.flushdb()
    log = records(args.events)
    n = len(log)
    print(f"{n} events, batches of {args.batch}, {len(VIEWS)} views, {url}")
    try:
        redis_store = RedisStore(client)
        report("redis  first delivery", n, run(redis_store, log, args.batch))
        report("redis  redelivery    ", n, run(redis_store, log, args.batch))
        memory = MemoryStore()
        report("memory first delivery", n, run(memory, log, args.batch))
        same = all(memory.digest(f"pw:{v}:") == redis_store.digest(f"pw:{v}:") for v in VIEWS)
        print(f"digests equal (memory vs redis): {same}")
    finally:
        client.flushdb()
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
