"""Event feed: event-to-SSE latency at 1,000 events/s (goal: p99 <= 100 ms).

What is measured is the read side alone: log -> views worker -> feed view -> API -> SSE.
A stack of the two roles on that path (api, views; no processor: nothing is decided) runs
on its own topics and Redis DB. N requesters are created through the operator API, each
opens one `GET /v1/events` stream (`Accept: text/event-stream`, `after=latest`). A
generator in its own process appends FundsDeposited events straight to the stack's events
topic with kafka-python, one record per event (as the processor writes a deposit: the
requester's partition, aggregate `requester:<id>` with its sequence 1, 2, ...), paced at
`--rate` events/s round robin over the requesters (each 10 ms tick's events together), each
stamped occurred_at = the wall clock (ms) at send. Latency of an event = the wall time
its `data:` line is read from the stream - its `at` (its occurred_at, in ms: up to 1 ms
of rounding).

References, measured in the same run on the same events, each in its own process:
- log: a read_committed kafka-python consumer at the topic's end, as the views read it;
- view: a Redis pub/sub subscriber on the same channels the API listens to
  (`pw:feed:e:{actor}`, published by the views' apply script once per batch touching a
  feed); on each message it reads the feed's new members, and each event's time is that
  message's arrival: the event is in Redis, before the API. SSE / view is what the API adds.
- poll: after the SSE phase (streams closed), a second paced phase where each requester
  polls the JSON page (`GET /v1/events?after=<cursor>`) every 100 ms instead.
Per second of sending, p50/p99 of each go to `by_second`: a backlog shows as a rise.

Every event sent must arrive once on its stream (asserted): none missing, none twice.
A warm-up event per requester (not counted) first waits for the views worker to join.

    .venv/bin/python -m bench.feed [--rate 1000] [--seconds 20] [--requesters 10]
                                   [--poll-seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import threading
import time
from collections import Counter
from contextlib import nullcontext
from typing import Any

from bench.common import ROOT, CpuMeter, bench_stack, console, progress, ratio, tag

GOAL_P99_MS = 100.0
ROLES = ("api", "views")
POLL_EVERY_S = 0.1
DRAIN_S = 60.0
WARMUP_S = 180.0  # the views worker joins its group (Faust) before the first event folds
AMOUNT = 1_000_000  # 1 EUR per deposit
CHANNEL_PREFIX = "pw:feed:e:"
# The generator sends each 10 ms tick's events together (10 at 1,000/s): one sleep and a
# few produce requests per tick instead of per event, which halves its CPU on 2 cores.
TICK_S = 0.01


# --- the generator (its own process: its sends never wait on the readers' loop) ------------


def _generator(conn: Any, bootstrap: str, topic: str, owners: list[tuple[str, int]],
               run: str) -> None:  # fmt: skip
    """Serve ("burst", label) -> one event per owner, ("paced", label, rate, seconds) ->
    paced events round robin; each answered with what was sent. ("stop",) ends."""
    from kafka import KafkaProducer

    from schemas.codec import encode_event_records
    from schemas.envelope import EventEnvelope
    from schemas.events import FundsDeposited

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all")
    producer.partitions_for(topic)  # metadata now, not in the first timed send
    sequence = Counter()

    def send(label: str, i: int) -> None:
        rid, partition = owners[i % len(owners)]
        sequence[rid] += 1
        command = f"{run}-{label}-{i}"
        env = EventEnvelope(f"{command}/0", f"requester:{rid}", sequence[rid],
                            time.time_ns() // 1_000_000, command, command, command, rid,
                            FundsDeposited(rid, AMOUNT, "EUR"))  # fmt: skip
        (record,) = encode_event_records([env])
        producer.send(topic, record, key=command.encode(), partition=partition)

    conn.send(("ready",))
    while True:
        order = conn.recv()
        if order[0] == "stop":
            break
        label = order[1]
        if order[0] == "burst":
            for i in range(len(owners)):
                send(label, i)
            producer.flush()
            conn.send({"sent": len(owners)})
            continue
        rate, seconds = order[2], order[3]
        total = int(rate * seconds)
        late: list[float] = []
        began, i, tick = time.perf_counter(), 0, 0
        while i < total:
            target = began + tick * TICK_S
            pause = target - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            else:
                late.append(-pause)
            tick += 1
            due = min(total, round(tick * TICK_S * rate))
            while i < due:  # this tick's events, each stamped as it is sent
                send(label, i)
                i += 1
        took = time.perf_counter() - began
        producer.flush()
        conn.send(
            {
                "sent": total,
                "seconds": took,
                "rate": total / took,
                "late_sends": len(late),
                "late_max_ms": 1000 * max(late, default=0.0),
            }
        )
    producer.close()


# --- what the readers saw -------------------------------------------------------------------


class Seen:
    """Per path (log, view, sse, poll): event id -> the wall time it arrived, and repeats."""

    def __init__(self) -> None:
        self.at: dict[str, int] = {}  # event id -> occurred_at (ms)
        self.paths: dict[str, dict[str, float]] = {p: {} for p in ("log", "view", "sse", "poll")}
        self.twice: Counter[str] = Counter()
        self.errors: list[str] = []

    def saw(self, path: str, event_id: str, at: int, now: float) -> None:
        arrived = self.paths[path]
        if event_id in arrived:
            self.twice[path] += 1
            return
        arrived[event_id] = now
        self.at.setdefault(event_id, at)

    def count(self, path: str, ids: set[str]) -> int:
        return len(ids & self.paths[path].keys())


async def _sse(session: Any, url: str, token: str, seen: Seen, ready: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    async with session.get(f"{url}/v1/events", params={"after": "latest"},
                           headers=headers) as resp:  # fmt: skip
        if resp.status != 200:
            seen.errors.append(f"SSE answered {resp.status}: {await resp.text()}")
            ready.set()
            return
        kind = ""
        async for raw in resp.content:
            now = time.time()
            line = raw.rstrip(b"\r\n")
            if line.startswith(b"retry:"):
                ready.set()
            elif line.startswith(b"event:"):
                kind = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                item = json.loads(line[5:])
                if kind == "error" or item.get("type") != kind:
                    seen.errors.append(f"SSE frame {kind!r}: {item}")
                    continue
                seen.saw("sse", item["id"], item["at"], now)
    seen.errors.append("an SSE stream ended")


def _view_watcher(conn: Any, redis_url: str, owners: list[tuple[str, int]]) -> None:
    """The reference, in its own process (its reads never wait on the SSE readers): when
    each event reached the feed view. Subscribed to the channels the API's wake-ups use; on
    each publish it reads the feed's new members, and each event found gets that publish's
    arrival time (the apply script publishes after writing its batch, in the same call).
    Sends ("seen", [(event id, occurred_at, time)]) every 50 ms, ("done", publishes) at
    the end."""
    import redis

    from consumers.views.feed import partition_key

    listener, reader = redis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    partition_of = dict(owners)
    last = {rid: -1 for rid in partition_of}
    pubsub = listener.pubsub()
    pubsub.subscribe(*(CHANNEL_PREFIX + rid for rid in partition_of))
    confirmed = 0
    while confirmed < len(partition_of):  # subscribed before the first event is sent
        message = pubsub.get_message(timeout=5)
        confirmed += message is not None and message["type"] == "subscribe"
    conn.send(("ready",))
    found: list[tuple[str, int, float]] = []
    publishes, flushed = 0, time.monotonic()
    while not conn.poll():
        message = pubsub.get_message(timeout=0.02)
        if message is not None and message["type"] == "message":
            now = time.time()
            publishes += 1
            rid = message["channel"].decode()[len(CHANNEL_PREFIX) :]
            rows = reader.zrangebyscore(
                partition_key(rid, partition_of[rid]), f"({last[rid]}", "+inf", withscores=True
            )
            for member, score in rows:
                head, _, body = member.decode().partition("|")
                found.append((json.loads(body)["id"], int(head), now))
                last[rid] = max(last[rid], int(score))
        if found and time.monotonic() - flushed >= 0.05:
            conn.send(("seen", found))
            found, flushed = [], time.monotonic()
    if found:
        conn.send(("seen", found))
    conn.send(("done", publishes))
    pubsub.close()


def _log_watcher(conn: Any, bootstrap: str, topic: str, partitions: int) -> None:
    """A second reference, in its own process: when each event could be read from the log
    (a read_committed kafka-python consumer at the topic's end, as the views read it).
    Same reports as _view_watcher."""
    import msgpack
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                             enable_auto_commit=False, group_id=None)  # fmt: skip
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_end(*tps)
    for tp in tps:
        consumer.position(tp)  # resolved now, before the first event is sent
    conn.send(("ready",))
    found: list[tuple[str, int, float]] = []
    records, flushed = 0, time.monotonic()
    while not conn.poll():
        for rows in consumer.poll(timeout_ms=20).values():
            now = time.time()
            for record in rows:
                records += 1
                body = msgpack.unpackb(record.value)
                for event in body if isinstance(body, list) else [body]:
                    found.append((event["id"], event["at"], now))
        if found and time.monotonic() - flushed >= 0.05:
            conn.send(("seen", found))
            found, flushed = [], time.monotonic()
    if found:
        conn.send(("seen", found))
    conn.send(("done", records))
    consumer.close()


def _follow(conn: Any, seen: Seen, path: str, done: dict[str, int]) -> None:
    """Thread: fold a watcher's reports into `seen` as they come."""
    while True:
        kind, value = conn.recv()
        if kind == "done":
            done[path] = value
            return
        for event_id, at, now in value:
            seen.saw(path, event_id, at, now)


async def _poller(session: Any, url: str, token: str, seen: Seen, stop: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    async def page(after: str, limit: int) -> dict[str, Any]:
        async with session.get(f"{url}/v1/events", params={"after": after, "limit": str(limit)},
                               headers=headers) as resp:  # fmt: skip
            if resp.status != 200:
                raise RuntimeError(f"GET /v1/events answered {resp.status}: {await resp.text()}")
            return await resp.json()

    cursor = (await page("latest", 1))["next_cursor"]
    while not stop.is_set():
        began = time.perf_counter()
        more = True
        while more:
            body = await page(cursor, 1_000)
            now = time.time()
            for item in body["items"]:
                seen.saw("poll", item["id"], item["at"], now)
            cursor, more = body["next_cursor"], body["has_more"]
        await asyncio.sleep(max(0.0, POLL_EVERY_S - (time.perf_counter() - began)))


# --- the run --------------------------------------------------------------------------------


def _latency(seen: Seen, path: str, ids: set[str]) -> list[float]:
    arrived = seen.paths[path]
    return [1000 * arrived[i] - seen.at[i] for i in ids if i in arrived]


def _pcts(ms: list[float]) -> dict[str, float]:
    if len(ms) < 2:
        return {"n": len(ms)}
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"n": len(ms), "p50": round(q[49], 1), "p95": round(q[94], 1),
            "p99": round(q[98], 1), "max": round(max(ms), 1),
            "mean": round(statistics.fmean(ms), 1)}  # fmt: skip


async def _wait_for(seen: Seen, paths: tuple[str, ...], ids: set[str], timeout: float,
                    bar: Any = None, job: Any = None) -> bool:  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        counts = [seen.count(p, ids) for p in paths]
        if bar is not None:
            bar.update(job, completed=counts[0])
        if all(c == len(ids) for c in counts):
            return True
        if seen.errors or time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)


async def _order(conn: Any, *order: Any) -> dict[str, Any]:
    conn.send(order)
    return await asyncio.get_running_loop().run_in_executor(None, conn.recv)


async def _bench(stack: Any, gen: Any, watchers: dict[str, Any], run: str, tokens: list[str],
                 rate: float,
                 seconds: float, poll_seconds: float,
                 pids: dict[str, int]) -> dict[str, Any]:  # fmt: skip
    import aiohttp

    seen = Seen()
    watched: dict[str, int] = {}
    followers = [threading.Thread(target=_follow, args=(conn, seen, path, watched), daemon=True)
                 for path, conn in watchers.items()]  # fmt: skip
    for follower in followers:
        follower.start()
    ids = lambda label, n: {f"{run}-{label}-{i}/0" for i in range(n)}  # noqa: E731
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        ready = [asyncio.Event() for _ in tokens]
        streams = [asyncio.create_task(_sse(session, stack.url, t, seen, r))
                   for t, r in zip(tokens, ready, strict=True)]  # fmt: skip
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 60)
        if seen.errors:
            raise RuntimeError(seen.errors[0])
        await asyncio.sleep(1.0)  # each stream subscribes to its wake-ups after `retry:`

        console.print("  warm-up: one event per requester, until the views worker folds it")
        await _order(gen, "burst", "warm")
        if not await _wait_for(seen, ("sse", "view", "log"), ids("warm", len(tokens)), WARMUP_S):
            raise RuntimeError(f"warm-up events never arrived: {seen.errors[:3]}")

        expected = ids("sse", int(rate * seconds))
        with progress() as bar, CpuMeter(pids) as cpu:
            job = bar.add_task(f"SSE events @{rate:,.0f}/s", total=len(expected))
            sending = asyncio.create_task(_order(gen, "paced", "sse", rate, seconds))
            while not sending.done():
                bar.update(job, completed=seen.count("sse", expected))
                await asyncio.sleep(0.2)
            generated = sending.result()
            complete = await _wait_for(seen, ("sse", "view", "log"), expected, DRAIN_S, bar, job)
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
        result = _figures(seen, "sse", expected, generated, complete)
        result["cpu"] = cpu.summary(len(expected))

        if poll_seconds > 0:
            stop = asyncio.Event()
            pollers = [asyncio.create_task(_poller(session, stack.url, t, seen, stop))
                       for t in tokens]  # fmt: skip
            await asyncio.sleep(0.5)  # each poller has its `latest` cursor
            polled = ids("poll", int(rate * poll_seconds))
            with progress() as bar:
                job = bar.add_task(f"polled events @{rate:,.0f}/s", total=len(polled))
                sending = asyncio.create_task(_order(gen, "paced", "poll", rate, poll_seconds))
                while not sending.done():
                    bar.update(job, completed=seen.count("poll", polled))
                    await asyncio.sleep(0.2)
                done = await _wait_for(seen, ("poll", "view", "log"), polled, DRAIN_S, bar, job)
            stop.set()
            await asyncio.gather(*pollers)
            result["poll"] = _figures(seen, "poll", polled, sending.result(), done)
    for conn in watchers.values():
        conn.send(("stop",))
    for follower in followers:
        follower.join(30)
    result["view_publishes"], result["log_records"] = watched.get("view"), watched.get("log")
    return result


def _figures(seen: Seen, path: str, expected: set[str], generated: dict[str, Any],
             complete: bool) -> dict[str, Any]:  # fmt: skip
    """The phase's figures: `path` (sse or poll) and its references (log, view) on the
    same events, the per-event difference path - view, and each second's p50/p99."""
    stages = {}
    for name in ("log", "view", path):
        stages[name] = {"received": seen.count(name, expected), "twice": seen.twice[name],
                        "latency_ms": _pcts(_latency(seen, name, expected))}  # fmt: skip
    mine, view = seen.paths[path], seen.paths["view"]
    both = [i for i in expected if i in mine and i in view]
    lat, ref = stages[path]["latency_ms"], stages["view"]["latency_ms"]
    return {
        "sent": len(expected), "received": stages[path]["received"],
        "missing": len(expected) - stages[path]["received"], "twice": seen.twice[path],
        "complete": complete, "errors": seen.errors[:5],
        "generator": {k: round(v, 2) if isinstance(v, float) else v
                      for k, v in generated.items()},
        "latency_ms": lat, "stages": stages,
        "added_over_view_ms": _pcts([1000 * (mine[i] - view[i]) for i in both]),
        "ratio_p50_over_view": round(ratio(lat.get("p50", 0), ref.get("p50", 0)), 2),
        "ratio_p99_over_view": round(ratio(lat.get("p99", 0), ref.get("p99", 0)), 2),
        "by_second": _by_second(seen, ("log", "view", path), expected),
    }  # fmt: skip


def _by_second(seen: Seen, paths: tuple[str, ...], expected: set[str]) -> list[dict[str, float]]:
    """p50 and p99 of each second of sending: a backlog shows as latency that grows."""
    first = min(seen.at[i] for i in expected if i in seen.at)
    buckets: dict[int, dict[str, list[float]]] = {}
    for name in paths:
        arrived = seen.paths[name]
        for i in expected:
            if i in arrived:
                second = (seen.at[i] - first) // 1000
                lat = 1000 * arrived[i] - seen.at[i]
                buckets.setdefault(second, {p: [] for p in paths})[name].append(lat)
    rows = []
    for second, found in sorted(buckets.items()):
        row: dict[str, float] = {"second": second}
        for name, ms in found.items():
            got = _pcts(ms)
            row[f"{name}_p50"], row[f"{name}_p99"] = got.get("p50", 0), got.get("p99", 0)
        rows.append(row)
    return rows


async def _requesters(url: str, operator: str, n: int, run: str) -> list[str]:
    from broker.client import Client

    async with Client(url, operator, retries=10, timeout=30) as op:
        return list(await asyncio.gather(*(op.create_actor(f"fd{run}r{i}", "requester")
                                           for i in range(n))))  # fmt: skip


def _owners(names: list[str], partitions: int) -> list[tuple[str, int]]:
    """Each requester and its partition: murmur2 of its id, as the API routes its commands."""
    from kafka.partitioner.default import murmur2

    return [(r, (murmur2(r.encode()) & 0x7FFFFFFF) % partitions) for r in names]


def run(quick: bool = False, stack: Any = None, rate: float = 1_000, seconds: float | None = None,
        requesters: int = 10, poll_seconds: float | None = None) -> dict[str, Any]:  # fmt: skip
    from runtime.settings import Settings

    seconds = seconds if seconds is not None else (5 if quick else 20)
    poll_seconds = poll_seconds if poll_seconds is not None else (3 if quick else 8)
    run_tag = tag()
    load_before = os.getloadavg()
    with nullcontext(stack) if stack else bench_stack(ROLES) as st:
        settings = Settings.from_env(st.env)
        tokens = asyncio.run(_requesters(st.url, st.operator_token, requesters, run_tag))
        owners = _owners([f"fd{run_tag}r{i}" for i in range(requesters)], settings.partitions)
        spawn = multiprocessing.get_context("spawn")
        gen, gen_end = spawn.Pipe()
        watcher, watcher_end = spawn.Pipe()
        log, log_end = spawn.Pipe()
        children = [
            spawn.Process(target=_generator, args=(gen_end, settings.kafka,
                          settings.topics.events, owners, run_tag), daemon=True),
            spawn.Process(target=_view_watcher, args=(watcher_end, settings.redis, owners),
                          daemon=True),
            spawn.Process(target=_log_watcher, args=(log_end, settings.kafka,
                          settings.topics.events, settings.partitions), daemon=True),
        ]  # fmt: skip
        for child in children:
            child.start()
        try:
            for conn, name in ((gen, "generator"), (watcher, "view watcher"), (log, "log watcher")):
                if not conn.poll(60):
                    raise RuntimeError(f"the {name} did not start")
                conn.recv()
            pids = {role: p.pid for role, p in st.processes.items() if role in ROLES}
            pids.update({"bench SSE readers": os.getpid(), "bench generator": children[0].pid,
                         "bench view watcher": children[1].pid,
                         "bench log watcher": children[2].pid})  # fmt: skip
            watchers = {"view": watcher, "log": log}
            result = asyncio.run(_bench(st, gen, watchers, run_tag, tokens, rate, seconds,
                                        poll_seconds, pids))  # fmt: skip
            gen.send(("stop",))
        finally:
            for child in children:
                child.join(15)
                if child.is_alive():
                    child.kill()
        st.assert_alive()
    result.update({
        "method": "events appended straight to the events topic (kafka-python, one record "
                  "per event, paced in 10 ms ticks); read side only: log -> views -> feed -> "
                  "API -> SSE",
        "rate_target": rate, "seconds": seconds, "requesters": requesters,
        "partitions": settings.partitions, "goal_p99_ms": GOAL_P99_MS,
        "meets_goal": result["latency_ms"].get("p99", float("inf")) <= GOAL_P99_MS,
        "load_before": load_before, "load_after": os.getloadavg(),
    })  # fmt: skip
    _print(result)
    assert result["complete"] and result["missing"] == 0 and result["twice"] == 0, (
        f"SSE: {result['received']} of {result['sent']} events, {result['twice']} twice, "
        f"errors {result['errors']}")  # fmt: skip
    if "poll" in result:
        p = result["poll"]
        assert p["missing"] == 0 and p["twice"] == 0, f"polling lost or repeated events: {p}"
    return result


def _cells(lat: dict[str, float]) -> list[str]:
    return [f"{lat.get(k, float('nan')):.0f}" for k in ("p50", "p95", "p99", "max")]


def _print(r: dict[str, Any]) -> None:
    from rich.table import Table

    g = r["generator"]
    console.print(f"  {r['method']}. {r['requesters']} requesters, one stream each; "
                  f"{g['sent']:,} events in {g.get('seconds', 0):.1f} s = "
                  f"{g.get('rate', 0):,.0f} events/s (target {r['rate_target']:,.0f}); "
                  f"{g.get('late_sends')} late ticks (max {g.get('late_max_ms')} ms); "
                  f"load {r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f}")  # fmt: skip
    table = Table(title=f"Event to reader, ms, @{r['rate_target']:,.0f} events/s",
                  caption="log: a Kafka consumer; view: the feed's Redis publish; sse: the "
                          "stream; poll: a JSON page every 100 ms; sse-view, poll-view: "
                          "the per-event difference")  # fmt: skip
    for col in ("phase, sent", "stage", "got", "twice", "p50", "p95", "p99", "max", "p99/view"):
        table.add_column(col, justify="left" if col in ("phase, sent", "stage") else "right")
    phases = [("SSE", r, "sse")] + ([("poll", r["poll"], "poll")] if "poll" in r else [])
    for title, phase, path in phases:
        table.add_section()
        view99 = phase["stages"]["view"]["latency_ms"].get("p99", 0)
        heading = [title, f"{phase['sent']:,}", ""]
        for k, (name, stage) in enumerate(phase["stages"].items()):
            lat = stage["latency_ms"]
            versus = "ref" if name == "view" else f"{ratio(lat.get('p99', 0), view99):.2f}"
            table.add_row(heading[k], name, f"{stage['received']:,}", str(stage["twice"]),
                          *_cells(lat), versus)  # fmt: skip
        table.add_row("", f"{path}-view", "", "", *_cells(phase["added_over_view_ms"]), "")
    console.print(table)
    verdict = "meets" if r["meets_goal"] else "does NOT meet"
    console.print(f"  SSE p99 {r['latency_ms'].get('p99')} ms: {verdict} the goal "
                  f"(<= {GOAL_P99_MS:.0f} ms); every event sent arrived once on its stream: "
                  f"{r['missing'] == 0 and r['twice'] == 0}")  # fmt: skip
    cpu = Table(title="CPU during the SSE phase")
    for col in ("process", "CPU s", "cores busy", "ms per 1k events"):
        cpu.add_column(col, justify="left" if col == "process" else "right")
    for name, c in r["cpu"].items():
        cpu.add_row(name, f"{c['cpu_s']:.2f}", f"{c['cores']:.2f}", f"{c['ms_per_1k']:.0f}")
    console.print(cpu)


def section(r: dict[str, Any], when: str = "") -> str:
    """The BENCHMARKS.md section of a result (bench/report.py does not render this bench)."""
    g, cpu = r["generator"], r["cpu"]
    verdict = "meets" if r["meets_goal"] else "**not met**"
    rows = []
    phases = [("SSE", r, "sse")] + ([("poll", r["poll"], "poll")] if "poll" in r else [])
    for title, phase, path in phases:
        view99 = phase["stages"]["view"]["latency_ms"].get("p99", 0)
        for name, stage in phase["stages"].items():
            lat = stage["latency_ms"]
            versus = "reference" if name == "view" else f"{ratio(lat['p99'], view99):.2f}"
            rows.append(f"| {title} | {name} | {stage['received']:,} / {phase['sent']:,} | "
                        f"{stage['twice']} | " + " | ".join(_cells(lat)) + f" | {versus} |")
        rows.append(f"| {title} | {path} - view, per event | | | "
                    + " | ".join(_cells(phase["added_over_view_ms"])) + " | |")
    others = cpu.get("other processes", {}).get("cores", float("nan"))
    return (
        f"## Event feed (`python -m bench.feed`)\n\n"
        f"Event-to-SSE latency{when}: {r['requesters']} requesters, one `GET /v1/events` "
        f"stream each (`after=latest`), {g['sent']:,} FundsDeposited events in "
        f"{g['seconds']:.0f} s ({g['rate']:,.0f} events/s) appended straight to the events "
        f"topic by a paced kafka-python producer, so this is the read side alone (log -> "
        f"views -> feed -> API -> SSE); latency = arrival - the event's occurred_at. "
        f"References on the same events: a Kafka consumer (log) and a Redis subscriber on "
        f"the feed's channels reading what each publish added (view); then a second phase "
        f"polling the JSON page every 100 ms instead of streaming. Goal: SSE p99 <= "
        f"{GOAL_P99_MS:.0f} ms: {verdict} ({r['latency_ms']['p99']:.0f} ms). Every event "
        f"arrived once on its stream (asserted). The machine was shared: load average "
        f"{r['load_before'][0]:.1f} before, {r['load_after'][0]:.1f} after; other jobs used "
        f"{others:.2f} of the 2 cores during the SSE phase.\n\n"
        "| phase | arrival at | got / sent | twice | p50 ms | p95 ms | p99 ms | max ms | "
        "p99 / view p99 |\n|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )  # fmt: skip


def _merge_into_last_run(result: dict[str, Any], seconds: float) -> None:
    """Add this bench to bench/last_run.json without dropping the other benches' figures."""
    path = ROOT / "bench" / "last_run.json"
    found = json.loads(path.read_text()) if path.exists() else {"benches": {}, "seconds": {}}
    found.setdefault("benches", {})["feed"] = result
    found.setdefault("seconds", {})["feed"] = seconds
    path.write_text(json.dumps(found, indent=1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rate", type=float, default=1_000, help="events/s")
    parser.add_argument("--seconds", type=float, default=None, help="SSE phase (default 20)")
    parser.add_argument("--requesters", type=int, default=10, help="one stream each")
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=None,
        help="JSON polling phase (default 8; 0 skips it)",
    )
    args = parser.parse_args()
    began = time.perf_counter()
    found = run(
        args.quick,
        rate=args.rate,
        seconds=args.seconds,
        requesters=args.requesters,
        poll_seconds=args.poll_seconds,
    )
    _merge_into_last_run(found, time.perf_counter() - began)
    console.print(
        f"  written to bench/last_run.json (benches.feed) in {time.perf_counter() - began:.0f} s"
    )
