"""Time `power_report` over a synthetic marketplace, in memory and on Redis.

    .venv/bin/python bench/power_report.py --workers 10000 --requesters 200 --db 14 --flush \
        [--export var/power-demo.jsonl]

The log is plausible, not realistic: requesters differ in pay rate (and underestimate
task time), rejection habits, review delay and size; worker activity is heavy-tailed.
Every view is folded (the live store holds them all, and SCAN walks the whole DB).
Prints the time of power_report on a MemoryStore and on Redis (DB >= 5, flushed at the end).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import zlib
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import redis

from consumers.engine.runner import digests, fold_log
from consumers.power.figures import power_report
from consumers.stores.redis_store import RedisStore
from consumers.stores.store import Reader
from runtime.settings import Settings
from schemas import events as ev
from schemas.envelope import EventEnvelope
from schemas.jsonform import write_lines
from schemas.positions import Positioned

T0, PARTITIONS, FLOOR = 1_700_000_000_000, 12, 6_000_000
MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000


def synthetic_log(workers: int, requesters: int, seed: int = 5) -> list[Positioned]:
    rng = random.Random(seed)
    out: list[Positioned] = []
    offsets = [0] * PARTITIONS

    def emit(owner: str, at: int, event: object) -> None:
        p = zlib.crc32(owner.encode()) % PARTITIONS
        n = len(out)
        env = EventEnvelope(f"e{n}", owner, n, at, f"c{n}", f"c{n}", "", owner, event)
        out.append((p, offsets[p], env))
        offsets[p] += 1

    reqs = [(f"req{i:03d}",
             rng.lognormvariate(1.3, 0.6) * 1_000_000,  # implied EUR/h of its estimates
             rng.uniform(0.2, 0.45) if i % 12 == 5 else rng.betavariate(1.5, 30),  # rejects
             rng.choice((10 * MIN, 2 * HOUR, 20 * HOUR, 3 * DAY)))  # review delay
            for i in range(requesters)]  # fmt: skip
    weights = [rng.lognormvariate(0, 1.3) for _ in reqs]  # a few big requesters
    for w in range(workers):
        worker = f"w{w:05d}"
        at = T0 + rng.randint(0, 30 * DAY)
        for t in range(1 + int(rng.paretovariate(1.5) * 3)):
            rid, rate, harsh, delay = rng.choices(reqs, weights)[0]
            estimate = rng.choice((30, 60, 120, 300, 900))
            reward = max(300, int(rate * estimate / 3600))
            fee = reward * (4 if t % 5 == 0 else 2) // 10  # MTurk-like: 20 %, 40 % in bulk
            task = f"{rid}:b{worker}:{t}"
            emit(rid, at, ev.TaskPosted(
                task, rid, f"b{worker}", "transcription", "", reward, fee, "EUR", 1, 3_600,
                at + 7 * DAY, 3 * 86_400, estimate, 0, (), None, None, rate < FLOOR))  # fmt: skip
            claim, claimed = f"{task}:c", at + rng.randint(1_000, HOUR)
            emit(rid, claimed, ev.TaskClaimed(task, claim, worker, claimed + HOUR))
            took = int(estimate * 1_000 * rng.lognormvariate(0.4, 0.5))  # work takes longer
            at = claimed + took
            fate = rng.random()
            if fate < 0.08:
                emit(rid, at, ev.ClaimReleased(task, claim, worker, claimed, 0, "EUR"))
                continue
            if fate < 0.12:
                emit(rid, claimed + HOUR, ev.ClaimExpired(task, claim, worker, claimed, 0, "EUR"))
                continue
            emit(rid, at, ev.WorkSubmitted(task, claim, claim, worker, "ok", claimed, at + 3 * DAY))
            reviewed = at + min(3 * DAY, int(delay * rng.lognormvariate(0, 0.7)))
            if rng.random() < harsh:
                emit(rid, reviewed, ev.SubmissionRejected(
                    task, claim, worker, rid, "no", at, reward + fee, "EUR"))  # fmt: skip
                if rng.random() < 0.1:
                    emit(rid, reviewed + DAY, ev.RejectionDisputed(task, claim, worker, "x"))
                    emit(rid, reviewed + 2 * DAY, ev.RejectionOverturned(
                        task, claim, worker, rid, reward, fee, "EUR", "op"))  # fmt: skip
            else:
                emit(rid, reviewed, ev.SubmissionApproved(
                    task, claim, worker, rid, reward, fee, "EUR", at, reviewed == at + 3 * DAY))
                if rng.random() < 0.03:
                    emit(rid, reviewed, ev.BonusGranted(
                        task, worker, rid, reward // 2, reward // 10, "EUR", "thanks"))
    return out


def best_of(runs: int, fn: Callable[[], object]) -> tuple[str, object]:
    """Best wall time and best client CPU time: on a busy host the CPU figure is steadier."""
    walls, cpus, result = [], [], None
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return f"{min(walls) * 1000:6.0f} ms wall, {min(cpus) * 1000:6.0f} ms client CPU", result


def pipelined_smembers(store: RedisStore) -> Callable[[list[str]], list[set[str]]]:
    """What a Reader.smembers_many would do on Redis: one round trip per chunk."""

    def many(keys: list[str]) -> list[set[str]]:
        pipe = store.client.pipeline(transaction=False)
        for key in keys:
            pipe.smembers(key)
        return pipe.execute()

    return many


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=10_000)
    parser.add_argument("--requesters", type=int, default=200)
    parser.add_argument("--db", type=int, default=14)
    parser.add_argument("--flush", action="store_true")
    parser.add_argument("--export", help="also write the log as JSON lines to this file")
    args = parser.parse_args()
    if args.db < 5:
        sys.exit("use a throwaway DB >= 5")
    base = Settings.from_env().redis
    client = redis.Redis.from_url(urlunsplit(urlsplit(base)._replace(path=f"/{args.db}")),
                                  decode_responses=True)  # fmt: skip
    if client.dbsize() and not args.flush:
        sys.exit(f"DB {args.db} is not empty; pass --flush to empty it")
    client.flushdb()
    log = synthetic_log(args.workers, args.requesters)
    print(f"{len(log):,} events, {args.workers:,} workers, {args.requesters} requesters")
    if args.export:
        with open(args.export, "w", encoding="utf-8") as out:
            write_lines(out, log)
    try:
        memory = fold_log(log)
        live = RedisStore(client)
        fold_log(log, store=live)
        print(f"Redis DB {args.db}: {client.dbsize():,} keys")
        if digests(memory) != digests(live):  # someone else flushed or wrote this DB
            sys.exit(f"DB {args.db} does not hold what was folded: pick a DB nobody uses")
        stores: list[tuple[str, Reader]] = [("memory", memory), ("redis", live)]
        reports = []
        for name, store in stores:
            took, report = best_of(5, lambda s=store: power_report(s, "EUR", FLOOR))
            reports.append(report)
            print(f"power_report on {name:28}: {took} (best of 5)")
        live.smembers_many = pipelined_smembers(live)  # type: ignore[attr-defined]
        took, report = best_of(5, lambda: power_report(live, "EUR", FLOOR))
        print(f"power_report on {'redis + pipelined SMEMBERS':28}: {took} (best of 5)")
        same = reports[0] == reports[1] == report
        print(f"same report on both stores: {same}")
        wage = reports[0]["effective_hourly_wage"]
        print(f"median wage {wage['median']:,} micro-EUR/h, unpaid "
              f"{reports[0]['unpaid_work_ratio']:.1%}, below floor "
              f"{reports[0]['share_below_floor']:.1%}")  # fmt: skip
    finally:
        client.flushdb()
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
