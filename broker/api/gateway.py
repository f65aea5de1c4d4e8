"""Send a command to the processor and wait for its reply, from asyncio code.

kafka-python does its network I/O in its own threads; the reply listener thread hands
each reply to the waiting coroutine with call_soon_threadsafe, never blocking the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from broker import metrics
from broker.config import Settings
from schemas.codec import decode_reply, encode_command
from schemas.envelope import CommandEnvelope, Reply
from schemas.errors import SchemaError

log = logging.getLogger(__name__)


class ReplyTimeout(Exception):
    """The processor did not answer in time; the command may still be decided later."""


class CommandGateway:
    def __init__(self, settings: Settings, client_id: str = "piecework-api") -> None:
        self.settings = settings
        self.producer = KafkaProducer(
            bootstrap_servers=settings.kafka,
            client_id=client_id,
            linger_ms=1,
            max_request_size=16 * 1024 * 1024,
        )
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka,
            client_id=f"{client_id}-replies",
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            fetch_max_wait_ms=20,
        )
        self._pending: dict[str, list[asyncio.Future]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._listen, name="reply-listener", daemon=True)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        topic = self.settings.topics.replies
        partitions = self.consumer.partitions_for_topic(topic)
        if not partitions:
            raise RuntimeError(f"topic {topic} does not exist (run `piecework up`)")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        # Only replies to commands sent from now on matter to this process.
        self.consumer.seek_to_end(*tps)
        for tp in tps:
            self.consumer.position(tp)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.consumer.close()
        self.producer.close()

    async def send(self, envelope: CommandEnvelope, timeout: float = 10.0) -> Reply:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        with self._lock:
            self._pending.setdefault(envelope.command_id, []).append(future)
        started = time.perf_counter()
        sent = self.producer.send(
            self.settings.topics.commands,
            encode_command(envelope),
            key=envelope.partition_key.encode(),
        )
        sent.add_errback(lambda exc: loop.call_soon_threadsafe(_fail, future, exc))
        try:
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise ReplyTimeout(envelope.command_id) from exc
        finally:
            self._forget(envelope.command_id, future)
        metrics.COMMAND_LATENCY.labels(envelope.type).observe(time.perf_counter() - started)
        return reply

    def _forget(self, command_id: str, future: asyncio.Future) -> None:
        with self._lock:
            waiting = self._pending.get(command_id, [])
            if future in waiting:
                waiting.remove(future)
            if not waiting:
                self._pending.pop(command_id, None)

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self.consumer.poll(timeout_ms=100)
            except Exception:  # keep listening: a lost reply only costs its caller a timeout
                log.exception("reply listener poll failed")
                time.sleep(0.5)
                continue
            for records in batch.values():
                for record in records:
                    self._deliver(record.value)

    def _deliver(self, raw: bytes) -> None:
        try:
            reply = decode_reply(raw)
        except SchemaError:
            return
        with self._lock:
            waiting = list(self._pending.get(reply.command_id, ()))
        for future in waiting:
            self._loop.call_soon_threadsafe(_resolve, future, reply)


def _resolve(future: asyncio.Future, value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
