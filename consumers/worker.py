"""The views worker: a Faust app folding piecework.events into the Redis views.

At least once, agent concurrency 1 (faust 0.15 can commit past an in-flight message with
more, issue #606). Redelivered events are harmless: the store skips every (partition,
offset) at or below what it already applied, atomically with the view data.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

import faust

from broker import metrics
from broker.config import Settings
from broker.deadletter import DeadLetter
from consumers.faust_transport import ReadCommittedApp
from consumers.redis_store import RedisStore
from consumers.runner import apply_batch
from schemas.codec import decode_event
from schemas.errors import SchemaError

log = logging.getLogger(__name__)
BATCH = 500
BATCH_WAIT_SECONDS = 0.02


def build_app(settings: Settings, instance: str, store: RedisStore) -> faust.App:
    data_dir = os.path.abspath(os.environ.get("PIECEWORK_DATA_DIR", "var"))
    os.makedirs(os.path.join(data_dir, f"faust-views-{instance}"), exist_ok=True)
    app = ReadCommittedApp(
        f"{settings.topics.prefix}-views",
        broker=f"kafka://{settings.kafka}",
        store="memory://",
        datadir=os.path.join(data_dir, f"faust-views-{instance}"),
        topic_partitions=settings.partitions,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=BATCH,
        broker_commit_interval=1.0,
    )
    events = app.topic(settings.topics.events, key_serializer="raw", value_serializer="raw")
    dead_letters = settings.topics.dead_letter
    consumer_name = f"views-{instance}"

    @app.agent(events, concurrency=1)
    async def fold(stream):  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        async for batch in stream.take_events(BATCH, within=BATCH_WAIT_SECONDS):
            records = []
            for event in batch:
                message = event.message
                try:
                    envelope = decode_event(message.value)
                except SchemaError as exc:
                    letter = DeadLetter(
                        exc.code, str(exc), message.topic, message.partition, message.offset,
                        message.key, message.value, consumer_name, time.time_ns() // 1_000_000,
                    )
                    # Durable before the offset moves on: nothing is dropped silently.
                    await app.producer.send_and_wait(dead_letters, message.key, letter.encode(),
                                                     None, None, None)
                    metrics.DEAD_LETTERS.labels("views", exc.code).inc()
                    continue
                records.append((message.partition, message.offset, envelope))
            if records:
                await loop.run_in_executor(None, apply_batch, store, records)
                metrics.VIEW_EVENTS.inc(len(records))

    return app


def run_views(settings: Settings, instance: str = "0") -> None:
    store = RedisStore.from_url(settings.redis)
    app = build_app(settings, instance, store)
    worker = faust.Worker(app, loglevel=os.environ.get("PIECEWORK_LOG_LEVEL", "INFO"))
    worker.execute_from_commandline()
