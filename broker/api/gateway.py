"""Send a command to the processor and wait for its reply, from asyncio code.

aiokafka does its network I/O on the event loop itself: no sender or network thread, no
cross-thread wake-up per send or per reply. The reply listener is a task on the same
loop; it resolves the waiting futures directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, KafkaTimeoutError
from aiokafka.partitioner import DefaultPartitioner, murmur2

from runtime import metrics
from runtime.settings import Settings
from schemas.codec import decode_reply, encode_command
from schemas.envelope import CommandEnvelope, Reply
from schemas.errors import SchemaError
from schemas.limits import MAX_RECORD_BYTES

log = logging.getLogger(__name__)


class CommandTooLarge(ValueError):
    """The command would not fit in one record of the commands topic."""


class ReplyTimeout(Exception):
    """The processor did not answer in time; the command may still be decided later."""


class CommandGateway:
    """Start it (or `async with` it) inside the event loop that will call `send`."""

    def __init__(self, settings: Settings, client_id: str = "piecework-api") -> None:
        self.settings = settings
        self._client_id = client_id
        self._pending: dict[str, list[asyncio.Future]] = {}
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._listener: asyncio.Task | None = None
        self._renewal: asyncio.Task | None = None

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=1,
            # aiokafka buffers one batch per partition and sends one request per broker at
            # a time; at its 16 KiB default a slow round trip caps a partition at ~12
            # claims and blocks send(). Under the broker's 1 MiB record batch limit.
            max_batch_size=512 * 1024,
            max_request_size=16 * 1024 * 1024,
            partitioner=MemoPartitioner(),
        )

    async def start(self) -> None:
        self._producer = self._new_producer()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka,
            client_id=f"{self._client_id}-replies",
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="latest",
            fetch_max_wait_ms=20,
        )
        try:
            await self._producer.start()
            await self._consumer.start()
            await self._follow_replies()
        except BaseException:
            await self.close()
            raise
        self._listener = asyncio.create_task(self._listen(), name="reply-listener")

    async def _follow_replies(self) -> None:
        assert self._consumer is not None and self._producer is not None
        topics = self.settings.topics
        missing = {topics.commands, topics.replies} - await self._consumer.topics()
        if missing:
            raise RuntimeError(f"topics {sorted(missing)} do not exist (run `piecework up`)")
        await self._producer.partitions_for(topics.commands)  # metadata before the first send
        topic = topics.replies
        partitions = await self._producer.partitions_for(topic)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        self._consumer.assign(tps)
        # Only replies to commands sent from now on matter to this process.
        if not await self._consumer.seek_to_end(*tps):
            raise RuntimeError(f"could not find the end of {topic}")
        for tp in tps:
            await self._consumer.position(tp)

    async def close(self) -> None:
        if self._renewal is not None:
            self._renewal.cancel()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    async def __aenter__(self) -> CommandGateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def send(self, envelope: CommandEnvelope, timeout: float = 10.0) -> Reply:
        assert self._producer is not None, "start() the gateway first"
        record = encode_command(envelope)
        if len(record) > MAX_RECORD_BYTES:  # the broker would refuse it, and wedge the producer
            raise CommandTooLarge(f"the command is {len(record)} bytes encoded;"
                                  f" the log takes at most {MAX_RECORD_BYTES}")  # fmt: skip
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        command_id = envelope.command_id
        self._pending.setdefault(command_id, []).append(future)
        started = time.perf_counter()
        producer = self._producer
        try:
            # One timeout over the send (it waits when the buffer is full or the topic's
            # metadata is unknown) and the reply; no extra task per call.
            async with asyncio.timeout(timeout):
                delivery = await producer.send(
                    self.settings.topics.commands, record, key=envelope.partition_key.encode()
                )
                delivery.add_done_callback(lambda sent: self._on_delivery(future, sent, producer))
                reply = await future
        except TimeoutError:
            raise ReplyTimeout(command_id) from None
        finally:
            self._forget(command_id, future)
        _latency(envelope.type).observe(time.perf_counter() - started)
        return reply

    def _on_delivery(self, future: asyncio.Future, sent: asyncio.Future,
                     producer: AIOKafkaProducer) -> None:  # fmt: skip
        """A producer error (after its own retries) fails the waiting call at once; one that
        leaves the idempotent producer's sequence numbers behind the broker's (every later
        send to that partition would fail OutOfOrderSequenceNumber) replaces the producer."""
        if sent.cancelled():
            return
        exc = sent.exception()
        if exc is None:
            return
        if not future.done():
            future.set_exception(exc)
        if _wedges(exc) and producer is self._producer and self._renewal is None:
            self._renewal = asyncio.create_task(self._renew(producer, exc), name="renew-producer")

    async def _renew(self, failed: AIOKafkaProducer, cause: BaseException) -> None:
        log.warning("replacing the command producer after %r", cause)
        try:
            fresh = self._new_producer()
            await fresh.start()
            self._producer = fresh
        except Exception:  # the next failure tries again
            log.exception("could not start a new command producer")
            return
        finally:
            self._renewal = None
        with contextlib.suppress(Exception):
            await failed.stop()

    def _forget(self, command_id: str, future: asyncio.Future) -> None:
        waiting = self._pending.get(command_id, [])
        if future in waiting:
            waiting.remove(future)
        if not waiting:
            self._pending.pop(command_id, None)

    async def _listen(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=1_000)
            except Exception:  # keep listening: a lost reply only costs its caller a timeout
                log.exception("reply listener poll failed")
                await asyncio.sleep(0.5)
                continue
            for records in batch.values():
                for record in records:
                    reply = _decode(record.value)
                    if reply is not None:
                        for future in self._pending.get(reply.command_id, ()):
                            if not future.done():
                                future.set_result(reply)


class MemoPartitioner:
    """The Java client's default partitioner (murmur2 of the key, positive, modulo the
    partition count), with the hash of each key remembered: the pure-Python murmur2 costs
    ~10 us a send, and keys repeat (a requester's tasks, a worker's wallet)."""

    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._hashes: dict[bytes, int] = {}

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return DefaultPartitioner()(key, all_partitions, available)
        h = self._hashes.get(key)
        if h is None:
            if len(self._hashes) >= self.MAX_KEYS:
                self._hashes.clear()
            h = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        # aiokafka passes list(set): sort, as the Java client indexes partitions by id
        return sorted(all_partitions)[h % len(all_partitions)]


_LATENCY: dict[str, Any] = {}


def _latency(command_type: str) -> Any:
    """The histogram child of a command type (labels() takes a lock and a lookup)."""
    child = _LATENCY.get(command_type)
    if child is None:
        child = _LATENCY[command_type] = metrics.COMMAND_LATENCY.labels(command_type)
    return child


def _decode(raw: bytes | None) -> Reply | None:
    if raw is None:
        return None
    try:
        return decode_reply(raw)
    except SchemaError:
        return None


def _wedges(exc: BaseException) -> bool:
    """Any error a retry cannot fix: the idempotent producer's state is then suspect. A
    timeout is left out: the broker may just be slow, and the next send finds out."""
    return (isinstance(exc, KafkaError) and not exc.retriable
            and not isinstance(exc, KafkaTimeoutError))  # fmt: skip
