"""Listings on a big batch: pages/s and tasks/s read, and the results export (issue 12).

Goal: >= 50,000 tasks/s read, and a page costs O(limit), not O(batch): a batch of
1,000,000 tasks pages as fast as a batch of 10.

The batches are NOT built through the API (a million tasks through the live views would
take many minutes): synthetic events (a BatchPosted per 500-task chunk, a TaskPosted per
task and, for every 10th task, a TaskClaimed and a WorkSubmitted) are folded through the
real projections of the two views the listings read, `batches` and `tasks`, into a
RedisStore on the bench DB (runner.entries_for, then RedisStore.apply: apply_batch's two
halves). Three batches of one requester: 10, 10,000 and N tasks (`--tasks`, default
1,000,000). Then, in one run, each page read one at a time, following the cursor:
- http: GET /v1/batches/{id}/tasks as the requester, through a real api process on that
  DB (the client parses the JSON, as any client would);
- direct: consumers.queries.listings.batch_tasks_page on a RedisStore, no HTTP;
- raw ids: a ZRANGEBYSCORE ... LIMIT loop over the same sorted set, the ceiling of paging
  itself; raw ids + hashes: the same plus one pipelined HGETALL per task, the Redis round
  trips of a page read with redis-py, without the query's typing and JSON.
Each (batch, limit, path) pages for `--seconds`, restarting after a random task whenever
it reaches the end. Last, the N-task batch's results export (one row per submission)
through the API, the api process's RSS sampled from /proc while it streams.

    .venv/bin/python -m bench.listings [--tasks 1000000] [--seconds 1.5]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any

from bench.common import ROOT, bench_stack, console, progress, redis_url, rss_mb, tag, task_spec

GOAL_TASKS_S = 50_000
CHUNK = 500  # tasks per domain batch, as the API posts them
SUBMIT_EVERY = 10
LIMITS = (10, 100, 1_000)
ROUNDS = 4
FAKE_PARTITION = 1_000  # offsets of the synthetic fold never meet a live views worker's
T0 = 1_700_000_000_000
ANSWER = {"label": "cat", "confidence": 0.93, "note": "clearly a cat, grey, sitting"}


def _events(requester: str, batch: str, n: int) -> Iterator[Any]:
    """The events of posting `batch` with n tasks, every 10th one claimed and submitted."""
    from schemas.envelope import EventEnvelope
    from schemas.events import BatchPosted, TaskClaimed, TaskPosted, WorkSubmitted

    serial = itertools.count()

    def envelope(aggregate: str, event: Any) -> EventEnvelope:
        k = next(serial)
        return EventEnvelope(f"{batch}-{k}", aggregate, 1, T0 + k, f"c{k}", f"c{k}", "",
                             requester, event)  # fmt: skip

    spec = task_spec(0)
    for chunk, first in enumerate(range(0, n, CHUNK)):
        size, name = min(CHUNK, n - first), f"{batch}.{chunk}"
        yield envelope(f"account:{requester}",
                       BatchPosted(requester, name, size, size * 33_000, "EUR"))
        for i in range(size):
            task = f"{requester}:{name}:{i}"
            yield envelope(f"task:{task}", TaskPosted(
                task, requester, name, spec["kind"], spec["title"], spec["reward"], 3_000,
                "EUR", 1, 900, T0 + 7 * 86_400_000, 259_200, 15, 0, (),
                task_spec(first + i)["payload"], None, False))  # fmt: skip
            if (first + i) % SUBMIT_EVERY == 0:
                claim, worker = f"{task}:c1", f"w{i % 100}"
                yield envelope(f"task:{task}", TaskClaimed(task, claim, worker, T0 + 900_000))
                yield envelope(f"task:{task}", WorkSubmitted(
                    task, claim, claim, worker, ANSWER, T0, T0 + 86_400_000))


def fold(store: Any, requester: str, sizes: dict[str, int]) -> dict[str, Any]:
    """Fold every batch's events through the listings' two views; events/s. The two
    halves of runner.apply_batch, overlapped: a thread applies one batch of entries (Redis
    runs the Lua) while the next batch is projected."""
    from consumers.engine.runner import entries_for
    from consumers.views import registry

    views = {name: registry.BY_NAME[name].project for name in ("tasks", "batches")}
    records = ((FAKE_PARTITION, offset, env) for offset, env in enumerate(
        itertools.chain.from_iterable(_events(requester, b, n) for b, n in sizes.items())))
    total = sum(n + -(-n // CHUNK) + 2 * -(-n // SUBMIT_EVERY) for n in sizes.values())
    started = time.perf_counter()
    with progress() as bar, ThreadPoolExecutor(1) as applier:
        job, applying = bar.add_task("fold events into redis", total=total), None
        while pending := list(itertools.islice(records, 1_000)):
            entries = entries_for(views, pending)
            if applying is not None:
                applying.result()
            applying = applier.submit(store.apply, entries)
            bar.advance(job, len(pending))
        if applying is not None:
            applying.result()
    seconds = time.perf_counter() - started
    return {"events": total, "seconds": round(seconds, 1), "events_s": round(total / seconds)}


# --- paging -------------------------------------------------------------------------


def _random_cursor(requester: str, batch: str, n: int, rng: random.Random) -> tuple[int, str]:
    from consumers.views.batches import task_score

    j = rng.randrange(n)
    member = f"{requester}:{batch}.{j // CHUNK}:{j % CHUNK}"
    return task_score(member), member


def _start(requester: str, batch: str, n: int, limit: int,
           rng: random.Random) -> Callable[[], Any]:  # fmt: skip
    """Where paging (re)starts: after a random task, or at the top of a one-page batch."""
    return lambda: _random_cursor(requester, batch, n, rng) if n > limit else None


def _measure(seconds: float, step: Callable[[Any], tuple[int, Any]],
             restart: Callable[[], Any]) -> tuple[int, int, float]:  # fmt: skip
    """Call `step(cursor) -> (items, next cursor)` for `seconds` from `restart()`'s start;
    the pages, the tasks and the seconds taken."""
    pages = items = 0
    cursor = restart()
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        got, cursor = step(cursor)
        pages, items = pages + 1, items + got
        if cursor is None:
            cursor = restart()
    return pages, items, elapsed


def _direct(store: Any, requester: str, batch: str, limit: int) -> Callable:
    from consumers.queries import listings

    def step(cursor: Any) -> tuple[int, Any]:
        items, after = listings.batch_tasks_page(store, requester, batch, None, cursor, limit)
        return len(items), listings.decode_cursor(after)

    return step


def _raw(client: Any, key: str, limit: int, hashes: bool) -> Callable:
    from consumers.views.task_record import slot

    def step(cursor: Any) -> tuple[int, Any]:
        low = "-inf" if cursor is None else f"({cursor[0]}"  # task scores are unique
        found = client.zrangebyscore(key, low, "+inf", 0, limit + 1, withscores=True)
        page = found[:limit]
        if hashes:
            pipe = client.pipeline(transaction=False)
            for bucket in dict.fromkeys(slot(m)[0] for m, _ in page):  # as the API reads them
                pipe.hgetall(bucket)
            pipe.execute()
        more = len(found) > limit
        return len(page), (int(page[-1][1]), page[-1][0]) if more else None

    return step


def _http(loop: asyncio.AbstractEventLoop, session: Any, url: str, token: str, batch: str,
          limit: int) -> Callable:  # fmt: skip
    from consumers.queries.listings import decode_cursor, encode_cursor

    headers = {"Authorization": f"Bearer {token}"}

    async def one(cursor: Any) -> tuple[int, Any]:
        query = {"limit": str(limit)}
        if cursor is not None:
            query["cursor"] = encode_cursor(*cursor)
        async with session.get(f"{url}/v1/batches/{batch}/tasks", params=query,
                               headers=headers) as r:  # fmt: skip
            assert r.status == 200, (r.status, await r.text())
            body = await r.json()
        return len(body["items"]), decode_cursor(body["next_cursor"])

    return lambda cursor: loop.run_until_complete(one(cursor))


def paging(stack: Any, token: str, store: Any, requester: str, sizes: dict[str, int],
           seconds: float) -> list[dict[str, Any]]:  # fmt: skip
    """Pages/s and tasks/s of every (batch, limit, path). Each measure is cut in ROUNDS
    slices and the batches take turns, so a burst of other load on the shared machine
    hits them alike (their ratios are the point)."""
    import aiohttp

    from consumers.views.batches import tasks_key

    rng = random.Random(12)
    loop = asyncio.new_event_loop()
    session = loop.run_until_complete(_session(aiohttp))
    steps = {
        "http": lambda b, lim: _http(loop, session, stack.url, token, b, lim),
        "direct": lambda b, lim: _direct(store, requester, b, lim),
        # The floor: one status set read raw (the bench's tasks are all open; the view
        # keeps no set of all of a batch's tasks since issue 14).
        "raw ids": lambda b, lim: _raw(store.client, tasks_key(requester, b, "open"), lim,
                                       False),
        "raw ids + hashes": lambda b, lim: _raw(store.client, tasks_key(requester, b, "open"),
                                                lim, True),
    }  # fmt: skip
    # A batch smaller than the limit is one page whatever the limit: measured at the least.
    combos = [(lim, [(b, n) for b, n in sizes.items() if lim <= max(n, LIMITS[0])])
              for lim in LIMITS]  # fmt: skip
    totals: dict[tuple[int, int, str], list[float]] = {}
    try:
        with progress() as bar:
            job = bar.add_task("page", total=ROUNDS * len(steps) * sum(len(c) for _, c in combos))
            for limit, batches in combos:
                for path, make in steps.items():
                    for _ in range(ROUNDS):
                        for batch, n in batches:
                            got = _measure(seconds / ROUNDS, make(batch, limit),
                                           _start(requester, batch, n, limit, rng))
                            acc = totals.setdefault((n, limit, path), [0, 0, 0.0])
                            acc[:] = [x + y for x, y in zip(acc, got, strict=True)]
                            bar.advance(job)
    finally:
        loop.run_until_complete(session.close())
        loop.close()
    return [{"tasks": n, "limit": limit, "path": path, "pages": int(p),
             "pages_s": round(p / t, 1), "tasks_s": round(items / t)}
            for (n, limit, path), (p, items, t) in sorted(totals.items(), key=_row_order)]


def _row_order(entry: tuple[tuple[int, int, str], Any]) -> tuple[int, int]:
    (n, limit, _), _ = entry
    return limit, n


async def _session(aiohttp: Any) -> Any:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))


# --- the results export -------------------------------------------------------------


class _PeakRss:
    """The api process's RSS (MB), sampled every 20 ms from a thread while the block runs."""

    def __init__(self, pid: int) -> None:
        self.pid, self.samples, self._stop = pid, [rss_mb(pid)], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.samples.append(rss_mb(self.pid))

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def _export(url: str, token: str, batch: str) -> tuple[int, int]:
    """Stream the batch's results (JSON lines); rows and bytes received."""
    import aiohttp

    rows = size = 0
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(
        f"{url}/v1/batches/{batch}/results", headers={"Authorization": f"Bearer {token}"}
    ) as r:
        assert r.status == 200, r.status
        async for chunk in r.content.iter_chunked(256 * 1024):
            rows, size = rows + chunk.count(b"\n"), size + len(chunk)
    return rows, size


def export(stack: Any, token: str, batch: str, tasks: int, warm: str) -> dict[str, Any]:
    asyncio.run(_export(stack.url, token, warm))  # warms the API: thread pool, code paths
    with _PeakRss(stack.processes["api"].pid) as rss:
        started = time.perf_counter()
        rows, size = asyncio.run(_export(stack.url, token, batch))
        seconds = time.perf_counter() - started
    expected = -(-tasks // SUBMIT_EVERY)
    assert rows == expected, f"exported {rows} rows, expected {expected}"
    return {"rows": rows, "tasks_scanned": tasks, "mb": round(size / 2**20, 1),
            "seconds": round(seconds, 1), "rows_s": round(rows / seconds),
            "tasks_scanned_s": round(tasks / seconds),
            "api_rss_start_mb": round(rss.samples[0], 1),
            "api_rss_peak_mb": round(max(rss.samples), 1),
            "api_rss_growth_mb": round(max(rss.samples) - rss.samples[0], 1),
            "rss_samples": len(rss.samples)}  # fmt: skip


# --- the run ------------------------------------------------------------------------


async def _requester(stack: Any, requester: str) -> str:
    from broker.client import Client

    async with Client(stack.url, stack.operator_token, retries=10) as op:
        return await op.create_actor(requester, "requester")


def _figures(rows: list[dict[str, Any]], sizes: dict[str, int]) -> dict[str, Any]:
    """The goal's figure, and the page-rate ratios that show O(limit)."""
    big, k10, ten = sizes["big"], sizes["b10k"], sizes["b10"]
    at = {(r["tasks"], r["limit"], r["path"]): r for r in rows}
    out: dict[str, Any] = {"goal_tasks_s": GOAL_TASKS_S}
    for path in ("http", "direct"):
        best = at[(big, 1_000, path)]["tasks_s"]
        out[f"{path}_tasks_s_limit_1000"] = best
        out[f"{path}_meets_goal"] = best >= GOAL_TASKS_S
        out[f"{path}_page_rate_{big}_over_10_limit_10"] = round(
            at[(big, 10, path)]["pages_s"] / at[(ten, 10, path)]["pages_s"], 2)
        for limit in (100, 1_000):
            out[f"{path}_page_rate_{big}_over_{k10}_limit_{limit}"] = round(
                at[(big, limit, path)]["pages_s"] / at[(k10, limit, path)]["pages_s"], 2)
            out[f"{path}_over_raw_hashes_limit_{limit}"] = round(
                at[(big, limit, path)]["tasks_s"] / at[(big, limit, "raw ids + hashes")]["tasks_s"],
                2)  # fmt: skip
    return out


def run(quick: bool = False, tasks: int | None = None, seconds: float | None = None,
        stack: Any = None) -> dict[str, Any]:  # fmt: skip
    """Build the batches, page them every way, export the big one; the figures as a dict."""
    import redis

    from consumers.stores.redis_store import RedisStore
    from testkit.stack_processes import OWNER_KEY

    load_before = os.getloadavg()[0]
    tasks = tasks or (100_000 if quick else 1_000_000)
    seconds = seconds or (0.8 if quick else 1.5)
    sizes = {"b10": 10, "b10k": 10_000, "big": tasks}
    requester = f"lister{tag()}"
    with nullcontext(stack) if stack else bench_stack(("api",)) as st:
        token = asyncio.run(_requester(st, requester))
        store = RedisStore.from_url(redis_url())
        built = fold(store, requester, sizes)
        console.print(f"  folded {built['events']:,} synthetic events in {built['seconds']} s "
                      f"({built['events_s']:,}/s) through the tasks and batches views")
        rows = paging(st, token, store, requester, sizes, seconds)
        for r in rows:
            console.print(f"  {r['tasks']:>9,} tasks, limit {r['limit']:>5}, {r['path']:<17} "
                          f"{r['pages_s']:>9,.1f} pages/s {r['tasks_s']:>10,} tasks/s")
        exported = export(st, token, "big", tasks, "b10k")
        console.print(f"  export: {exported['rows']:,} rows ({exported['mb']} MB) of "
                      f"{tasks:,} tasks in {exported['seconds']} s, {exported['rows_s']:,} rows/s; "
                      f"api RSS {exported['api_rss_start_mb']} -> peak "
                      f"{exported['api_rss_peak_mb']} MB")
        store.client.close()
    if stack is None:  # our own stack's DB: give the memory back, unless someone took it
        db = redis.Redis.from_url(redis_url())
        if not db.exists(OWNER_KEY):
            db.flushdb()
        db.close()
    result = {"built": "synthetic events folded through the real tasks and batches "
                       "projections (consumers.engine.runner.apply_batch), not the API",
              "sizes": sizes, "submit_every": SUBMIT_EVERY, "seconds_per_measure": seconds,
              "fold": built, "paging": rows, "export": exported,
              "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)]}  # fmt: skip
    result["figures"] = _figures(rows, sizes)
    return result


def _rate(x: float) -> str:
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def section(r: dict[str, Any]) -> str:
    """The BENCHMARKS.md section of one run."""
    if "error" in r:
        return f"## Listings\n\nFailed: {r['error']}\n"
    sizes, f, e = r["sizes"], r["figures"], r["export"]
    big, k10 = sizes["big"], sizes["b10k"]
    at = {(x["tasks"], x["limit"], x["path"]): x for x in r["paging"]}
    paths = ("http", "direct", "raw ids + hashes", "raw ids")
    rows = ["| tasks in batch | limit | " + " | ".join(f"{p} pages/s | {p} tasks/s" for p in paths)
            + " |", "|---|---|" + "---|---|" * len(paths)]
    for (n, limit) in dict.fromkeys((x["tasks"], x["limit"]) for x in r["paging"]):
        rows.append(f"| {n:,} | {limit:,} | " + " | ".join(
            f"{_rate(at[(n, limit, p)]['pages_s'])} | {at[(n, limit, p)]['tasks_s']:,}"
            for p in paths) + " |")  # fmt: skip
    verdict = {True: "**meets**", False: "**misses**"}
    return (
        "## Listings (`python -m bench.listings`)\n\n"
        f"Batches of 10, {k10:,} and {big:,} tasks (every {r['submit_every']}th submitted), "
        f"built by folding {r['fold']['events']:,} synthetic events through the real tasks and "
        f"batches projections (`consumers.engine.runner`'s entries_for, then RedisStore.apply, "
        f"{r['fold']['events_s']:,} events/s), **not through the API**. Each row pages for "
        f"{r['seconds_per_measure']} s from random cursors, one page at a time: `http` is "
        "GET /v1/batches/{id}/tasks through a real api process (JSON parsed by the client), "
        "`direct` the query function, `raw ids` a ZRANGEBYSCORE loop (the paging's ceiling), "
        "`raw ids + hashes` the same plus one pipelined HGETALL per task (the Redis reads of "
        "a page, without the query's typing).\n\n"
        f"Goal >= {f['goal_tasks_s']:,} tasks/s read: http at limit 1,000 "
        f"{f['http_tasks_s_limit_1000']:,} tasks/s, {verdict[f['http_meets_goal']]}; direct "
        f"{f['direct_tasks_s_limit_1000']:,}, {verdict[f['direct_meets_goal']]}.\n\n"
        + "\n".join(rows) + "\n\n"
        f"Page rate, {big:,}-task batch over smaller ones (1.0 = O(limit)): http "
        f"{f[f'http_page_rate_{big}_over_10_limit_10']} over 10 tasks at limit 10, "
        f"{f[f'http_page_rate_{big}_over_{k10}_limit_100']} and "
        f"{f[f'http_page_rate_{big}_over_{k10}_limit_1000']} over {k10:,} at limits 100 and "
        f"1,000; direct {f[f'direct_page_rate_{big}_over_10_limit_10']}, "
        f"{f[f'direct_page_rate_{big}_over_{k10}_limit_100']}, "
        f"{f[f'direct_page_rate_{big}_over_{k10}_limit_1000']}.\n\n"
        f"Results export of the {big:,}-task batch through the API: {e['rows']:,} rows "
        f"({e['mb']} MB of JSON lines) in {e['seconds']} s, {e['rows_s']:,} rows/s "
        f"({e['tasks_scanned_s']:,} tasks scanned/s); api RSS {e['api_rss_start_mb']} MB at "
        f"the start, peak {e['api_rss_peak_mb']} MB ({e['rss_samples']} samples).\n\n"
        f"Load average {r['load_average'][0]} before, {r['load_average'][1]} after (2 cores, "
        "shared with other jobs).\n"
    )


def _merge_into_last_run(result: dict[str, Any], seconds: float) -> None:
    """Add this bench to bench/last_run.json without dropping the other benches' figures."""
    path = ROOT / "bench" / "last_run.json"
    found = json.loads(path.read_text()) if path.exists() else {"benches": {}, "seconds": {}}
    found.setdefault("benches", {})["listings"] = result
    found.setdefault("seconds", {})["listings"] = seconds
    path.write_text(json.dumps(found, indent=1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=1_000_000, help="tasks in the big batch")
    parser.add_argument("--seconds", type=float, default=1.5, help="per (batch, limit, path)")
    args = parser.parse_args()
    began = time.perf_counter()
    found = run(tasks=args.tasks, seconds=args.seconds)
    _merge_into_last_run(found, time.perf_counter() - began)
    print(json.dumps(found["figures"], indent=1))
    print(section(found))
