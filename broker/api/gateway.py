"""Send a command to the processor and wait for its reply, from asyncio code.

kafka-python does its network I/O in its own threads; the reply listener thread hands
the replies of one poll to the waiting coroutines with one call_soon_threadsafe (one
wake-up of the loop per poll, not per reply), never blocking the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.partitioner.default import DefaultPartitioner, murmur2

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
            partitioner=MemoPartitioner(),
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
        command_id = envelope.command_id
        with self._lock:
            self._pending.setdefault(command_id, []).append(future)
        started = time.perf_counter()
        try:
            sent = self.producer.send(
                self.settings.topics.commands,
                encode_command(envelope),
                key=envelope.partition_key.encode(),
            )
            sent.add_errback(lambda exc: loop.call_soon_threadsafe(_fail, future, exc))
            # A bare timer, not asyncio.wait_for: no extra task or timeout context per call.
            timer = loop.call_later(timeout, _fail, future, ReplyTimeout(command_id))
            try:
                reply = await future
            finally:
                timer.cancel()
        finally:
            self._forget(command_id, future)
        _latency(envelope.type).observe(time.perf_counter() - started)
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
            replies = [r for rs in batch.values() for r in map(_decode, (x.value for x in rs)) if r]
            if replies:
                self._deliver(replies)

    def _deliver(self, replies: list[Reply]) -> None:
        with self._lock:
            ready = [(f, r) for r in replies for f in self._pending.get(r.command_id, ())]
        if ready:
            self._loop.call_soon_threadsafe(_resolve_all, ready)


class MemoPartitioner(DefaultPartitioner):
    """kafka-python's default partitioner (murmur2, like the Java client's), with the hash
    of each key remembered: the pure-Python murmur2 costs ~10 us a send, and keys repeat
    (a requester's tasks, a worker's wallet). Same partition for the same key, always."""

    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._hashes: dict[bytes, int] = {}

    def partition(self, topic: str, key: Any, serialized_key: bytes | None, value: Any,
                  serialized_value: Any, cluster: Any) -> int:  # fmt: skip
        partitions = cluster.partitions_for_topic(topic) if serialized_key is not None else None
        if not partitions:
            return super().partition(topic, key, serialized_key, value, serialized_value, cluster)
        h = self._hashes.get(serialized_key)
        if h is None:
            if len(self._hashes) >= self.MAX_KEYS:
                self._hashes.clear()
            h = self._hashes[serialized_key] = murmur2(serialized_key) & 0x7FFFFFFF
        return sorted(partitions)[h % len(partitions)]


_LATENCY: dict[str, Any] = {}


def _latency(command_type: str) -> Any:
    """The histogram child of a command type (labels() takes a lock and a lookup)."""
    child = _LATENCY.get(command_type)
    if child is None:
        child = _LATENCY[command_type] = metrics.COMMAND_LATENCY.labels(command_type)
    return child


def _decode(raw: bytes) -> Reply | None:
    try:
        return decode_reply(raw)
    except SchemaError:
        return None


def _resolve_all(ready: list[tuple[asyncio.Future, Reply]]) -> None:
    for future, reply in ready:
        if not future.done():
            future.set_result(reply)


def _fail(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
