"""The views worker: a Faust app folding piecework.events into the Redis views.

At least once, agent concurrency 1 (faust 0.15 can commit past an in-flight message with
more, issue #606). Redelivered events are harmless: the store skips every (partition,
offset) at or below what it already applied, atomically with the view data.

Where to read from is the store's business (consumers/engine/view_position.py): on every
assignment each partition is sought to one past the least advanced view's stored offset,
or to the log start when nothing is stored, so a fresh or flushed Redis is rebuilt. The
group's committed offsets only feed the lag figures (consumers/engine/views_app.py).
A flush under a running worker makes it exit with EXIT_REBUILD, a batch it cannot fold
with EXIT_FAILED; the supervisor (`piecework serve`) restarts it, and the start-up seek
rebuilds or resumes the views.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterable, Sequence

import faust
import redis
from faust.types import TP

from consumers.engine.runner import LIVE_VIEWS, apply_batch
from consumers.engine.view_position import PositionedStore, StoreFlushed
from consumers.engine.views_app import ViewsApp
from runtime import metrics
from runtime.deadletter import dead_letter
from runtime.settings import Settings
from schemas.codec import decode_positioned
from schemas.errors import SchemaError
from schemas.positions import Positioned

log = logging.getLogger(__name__)
BATCH = 500  # records; one record holds the events of one decision (a post: hundreds)
BATCH_WAIT_SECONDS = 0.02
# Events per Lua call: Redis runs a script alone, so a large one stalls the API's reads.
EVENTS_PER_APPLY = 2_000
# Faust's default session timeout (60 s) is how long the group waits before handing a
# vanished worker's partitions to another one. 10 s is above the broker's minimum
# (group.min.session.timeout.ms, 6 s) and tolerates a long GC or apply pause; heartbeats
# every 2 s leave four of them per session. Static membership (group.instance.id =
# views-<instance>, KIP-345): a worker restarted under the same instance id (what the
# supervisor does after a crash or a flush) takes its partitions back at once, without
# waiting for its dead predecessor's session to expire or rebalancing the others.
SESSION_TIMEOUT_SECONDS = 10.0
HEARTBEAT_SECONDS = 2.0
# How often an idle worker checks that its store was not flushed (a busy one checks in
# every apply), and commits past the transaction markers that end the log.
IDLE_CHECK_SECONDS = 1.0
EXIT_REBUILD = 75  # EX_TEMPFAIL: restart me, I will rebuild
EXIT_FAILED = 70  # EX_SOFTWARE: restart me, I will resume from the store
# How long a batch is retried while Redis is unreachable before the worker gives up.
REDIS_RETRY_SECONDS = 60.0


def build_app(settings: Settings, instance: str, store: PositionedStore) -> faust.App:
    datadir = settings.data_dir / f"faust-views-{instance}"
    datadir.mkdir(parents=True, exist_ok=True)
    app = ViewsApp(
        f"{settings.topics.prefix}-views",
        broker=f"kafka://{settings.kafka}",
        store="memory://",
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=BATCH,
        broker_commit_interval=1.0,
        broker_session_timeout=SESSION_TIMEOUT_SECONDS,
        broker_heartbeat_interval=HEARTBEAT_SECONDS,
        consumer_group_instance_id=f"views-{instance}",
    )
    events = app.topic(settings.topics.events, key_serializer="raw", value_serializer="raw")
    dead_letters = settings.topics.dead_letter
    consumer_name = f"views-{instance}"

    async def store_positions(assigned: Iterable[TP]) -> dict[TP, int | None]:
        tps = [tp for tp in assigned if tp.topic == settings.topics.events]
        loop = asyncio.get_running_loop()
        try:
            found = await loop.run_in_executor(
                None, store.positions, [tp.partition for tp in tps]
            )
        except StoreFlushed as exc:
            _exit(EXIT_REBUILD, f"views store flushed ({exc}) since this worker started")
        log.info("assigned %s; next offsets in the store: %s", consumer_name, found)
        return {tp: found[tp.partition] for tp in tps}

    app.store_positions = store_positions

    async def decoded(batch: Sequence[faust.EventT]) -> list[Positioned]:
        records: list[Positioned] = []
        for event in batch:
            message = event.message
            try:
                found = decode_positioned(message.partition, message.offset, message.value)
            except SchemaError as exc:
                letter = dead_letter(
                    exc.code, str(exc), message.topic, message.partition, message.offset,
                    message.key, message.value, consumer_name, time.time_ns() // 1_000_000,
                )
                # Durable before the offset moves on: nothing is dropped silently.
                await app.producer.send_and_wait(dead_letters, letter.key, letter.encode(),
                                                 None, None, None)
                metrics.DEAD_LETTERS.labels("views", exc.code).inc()
                continue
            records.extend(found)
        return records

    @app.agent(events, concurrency=1)
    async def fold(stream):  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        async for batch in stream.take_events(BATCH, within=BATCH_WAIT_SECONDS):
            # A batch that fails must not be acked and skipped: later batches would move
            # the stored offsets past it. So any failure ends the process (see _exit).
            try:
                records = await decoded(batch)
                if not records:
                    continue
                started = time.perf_counter()
                await loop.run_in_executor(None, apply_with_retries, store, records)
            except StoreFlushed as exc:
                _exit(EXIT_REBUILD, f"views store flushed ({exc}): the restarted worker "
                      "rebuilds every view from the log")  # fmt: skip
            except Exception as exc:
                _exit(EXIT_FAILED, f"folding a batch failed ({exc!r}): the restarted worker "
                      "resumes from the offsets stored with the views")  # fmt: skip
            metrics.VIEW_APPLY_SECONDS.observe(time.perf_counter() - started)
            metrics.VIEW_EVENTS.inc(len(records))

    @app.timer(IDLE_CHECK_SECONDS)
    async def idle_checks() -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(None, store.check_epoch)
            await app.consumer.commit_past_markers(settings.topics.events)
        except StoreFlushed as exc:
            _exit(EXIT_REBUILD, f"views store flushed ({exc}): the restarted worker "
                  "rebuilds every view from the log")  # fmt: skip
        except Exception as exc:  # Redis or Kafka away: the next batch or tick tells
            log.warning("idle check failed: %r", exc)

    return app


def apply_with_retries(store: PositionedStore, records: Sequence[Positioned]) -> int:
    """apply_batch in slices of EVENTS_PER_APPLY, each retried while Redis is unreachable
    or loading. A retry is safe: the Lua apply is atomic and skips what a first attempt
    may have applied; so is a crash between slices, as every event has its own position."""
    applied = 0
    for start in range(0, len(records), EVENTS_PER_APPLY):
        applied += _apply_slice(store, records[start : start + EVENTS_PER_APPLY])
    return applied


def _apply_slice(store: PositionedStore, records: Sequence[Positioned]) -> int:
    delay, deadline = 0.1, time.monotonic() + REDIS_RETRY_SECONDS
    while True:
        try:
            return apply_batch(store, records, LIVE_VIEWS)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("Redis unavailable (%r), retrying in %.1fs", exc, delay)
            time.sleep(delay)
            delay = min(2 * delay, 2.0)


def _exit(code: int, why: str) -> None:
    """Exit now, without Faust's graceful stop, which would ack the batch at hand. Nothing
    in memory is worth saving: the store holds the views and their positions, and the
    supervisor (`piecework serve`) restarts the role, whose start-up seek resumes (or
    after a flush, rebuilds) from the store."""
    log.critical("%s; exiting with %d", why, code)
    logging.shutdown()
    os._exit(code)


def run_views(settings: Settings, instance: str = "0") -> None:
    store = PositionedStore.from_url(settings.redis)
    app = build_app(settings, instance, store)
    # Logging stays as runtime.logs set it (one format for every role). Faust's banner and
    # its spinner's terminal codes would land in the role's log file (`serve`): not written.
    quiet = open(os.devnull, "w")  # noqa: SIM115 - for the worker's whole life
    worker = faust.Worker(app, loglevel=settings.log_level, override_logging=False,
                          quiet=True, redirect_stdouts=False, stdout=quiet)  # fmt: skip
    worker.execute_from_commandline()
