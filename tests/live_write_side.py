"""An in-process write side on the real broker: topics, a processor thread, a gateway.

For integration tests that need commands decided for real but not HTTP or views.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from broker.domain.policy import Policy
from broker.processor.service import CommandProcessor
from deploy.topics import create_topics
from runtime.clock import Clock, SystemClock
from runtime.kafka_io import read_topic
from runtime.settings import Settings
from schemas.codec import decode_events
from schemas.envelope import EventEnvelope
from schemas.topics import Topics


@dataclass
class WriteSide:
    settings: Settings
    processors: list[tuple[CommandProcessor, threading.Event, threading.Thread]]

    def events(self) -> list[EventEnvelope]:
        """Every committed event, read from offset 0 of every partition."""
        return [
            env
            for r in read_topic(self.settings.kafka, self.settings.topics.events)
            for env in decode_events(r.value)
        ]


def settings_for(kafka: str, redis: str, prefix: str, partitions: int = 4) -> Settings:
    """The processor's Kafka client is the environment's (PIECEWORK_PROCESSOR_CLIENT), so
    the same tests run the processor on either client."""
    return Settings(kafka=kafka, redis=redis, topics=Topics(prefix), partitions=partitions,
                    processor_client=Settings.from_env().processor_client)  # fmt: skip


def start_processor(
    settings: Settings, instance: str, clock: Clock | None = None, policy: Policy | None = None
) -> tuple[CommandProcessor, threading.Event, threading.Thread]:
    processor = CommandProcessor(settings, policy or Policy(), clock or SystemClock(), instance)
    stop = threading.Event()
    thread = threading.Thread(target=processor.run, args=(stop,), daemon=True)
    thread.start()
    return processor, stop, thread


@contextmanager
def write_side(
    settings: Settings, processors: int = 1, clock: Clock | None = None
) -> Iterator[WriteSide]:
    create_topics(settings.kafka, settings.topics.creation_configs(), settings.partitions)
    running = [
        start_processor(settings, f"{settings.topics.prefix}-{i}", clock) for i in range(processors)
    ]
    try:
        yield WriteSide(settings, running)
    finally:
        for _, stop, _ in running:
            stop.set()
        for _, _, thread in running:
            thread.join(timeout=30)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)
