"""GET /v1/task-groups' read, and what the groups view costs per open task.

    PIECEWORK_REDIS=redis://127.0.0.1:6379/0 .venv/bin/python -m bench.task_groups \
        --groups 100,1000,5000 --db 12

For each size: folds that many open groups (two tasks each, 200 requesters, every group
its own reward) through the groups and power projections into a throwaway DB (>= 5, empty
or --flush; flushed at the end), then times a page of 100 by each sort (best of 5, ms) and
prints the view's bytes per open task (MEMORY USAGE of the `task:` hash and the `tasks:`
member) beside the queue's.
"""

from __future__ import annotations

import argparse
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import redis

from consumers.engine.runner import entries_for
from consumers.queries import task_groups_query
from consumers.stores.redis_store import RedisStore
from consumers.views import power, queue, task_groups
from runtime.settings import Settings
from schemas.envelope import EventEnvelope
from schemas.events import TaskPosted

T0 = 1_700_000_000_000
VIEWS = {"queue": queue.project, "groups": task_groups.project, "power": power.project}


def posted(g: int, index: int, requesters: int) -> EventEnvelope:
    requester = f"req{g % requesters}"
    task_id = f"{requester}:b{g}:{index}"
    event = TaskPosted(task_id, requester, f"b{g}", "image_labelling", "", 10_000 + g, 2_000,
                       "EUR", 1, 900, T0 + 86_400_000, 3600, 30, 0, (), None, "ref",
                       False)  # fmt: skip
    return EventEnvelope(f"e{g}.{index}", task_id, 1, T0 + g, "c", "c", "", requester, event)


def fill(store: RedisStore, groups: int, requesters: int) -> None:
    log = [(0, n, posted(g, i, requesters))
           for n, (g, i) in enumerate((g, i) for g in range(groups) for i in range(2))]
    for start in range(0, len(log), 500):
        store.apply(entries_for(VIEWS, log[start:start + 500]))


def bytes_per_task(client: redis.Redis, groups: int) -> tuple[float, float]:
    ids = [f"req{g % 200}:b{g}:0" for g in range(min(groups, 1_000))]
    gid = task_groups.group_id("req0", "image_labelling", 10_000, "EUR", 30, ())
    member = client.memory_usage(task_groups.tasks_key(gid)) / 2  # two tasks a group
    # A batch's two tasks share one hash of task state in each view (task_slots).
    own = sum(client.memory_usage(task_groups.task_slot(t)[0]) for t in ids) / len(ids) / 2
    theirs = sum(client.memory_usage(queue.task_slot(t)[0]) for t in ids) / len(ids) / 2
    return own + member, theirs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", default="100,1000,5000", help="sizes, comma-separated")
    parser.add_argument("--requesters", type=int, default=200)
    parser.add_argument("--db", type=int, default=12)
    parser.add_argument("--flush", action="store_true")
    args = parser.parse_args()
    if args.db < 5:
        sys.exit("use a throwaway DB >= 5")
    url = urlunsplit(urlsplit(Settings.from_env().redis)._replace(path=f"/{args.db}"))
    client = redis.Redis.from_url(url, decode_responses=True)
    if client.dbsize() and not args.flush:
        sys.exit(f"DB {args.db} is not empty; pass --flush to empty it")
    try:
        for groups in (int(n) for n in args.groups.split(",")):
            client.flushdb()
            store = RedisStore(client)
            fill(store, groups, args.requesters)
            timings = []
            for sort in task_groups_query.SORTS:
                best = float("inf")
                for _ in range(5):
                    started = time.perf_counter()
                    task_groups_query.groups_page(store, (), sort, None, 100)
                    best = min(best, time.perf_counter() - started)
                timings.append(f"{sort} {best * 1000:.1f} ms")
            own, theirs = bytes_per_task(client, groups)
            print(f"{groups:>6} open groups: page of 100 by " + ", ".join(timings)
                  + f"; groups view {own:.0f} B per open task (queue's task hash {theirs:.0f} B)")
    finally:
        client.flushdb()
    return 0


if __name__ == "__main__":
    sys.exit(main())
