"""The processor's Kafka port on confluent-kafka, librdkafka's binding (kafka_port).

Same settings as the kafka-python port, in librdkafka's names. Differences that matter:
- the partitioner is murmur2_random, kafka-python's and the Java client's, so an outbox
  command lands on the partition the API would have sent it to (librdkafka's default,
  consistent_random, hashes keys with CRC32);
- on_assign assigns and pauses in the callback: the binding would otherwise assign after
  it returns, and a pause before the assignment is lost;
- every transactional call takes CALL_SECONDS as its own bound, and is also waited on
  from here, on a thread of the producer's: send_offsets_to_transaction can hang past its
  timeout when the group coordinator's broker went away (librdkafka issues #5456, #5511,
  open; seen in tests/e2e/test_broker_restart.py: 10 minutes with a 20 s timeout). A call
  still pending CALL_SECONDS + CALL_GRACE_SECONDS later makes the producer "stuck": it is
  replaced, as a kafka-python producer whose bounded call timed out is;
- Nagle's algorithm is off, as in kafka-python (librdkafka leaves it on): small requests
  are not held back waiting for an ACK;
- poll() waits for one record, then takes the ones already fetched (consume(n, timeout)
  would wait for n or the timeout);
- a record's delivery report is served by flush(), which the processor calls before the
  commit: a record the broker refused for good is known by then.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from confluent_kafka import Consumer as RdConsumer
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka import Producer as RdProducer

from broker.processor import kafka_port as port
from broker.processor.kafka_port import Batch, KafkaCallError, Partitions

log = logging.getLogger(__name__)
rdkafka_log = logging.getLogger("librdkafka")

FENCED = frozenset((KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                    KafkaError.INVALID_PRODUCER_EPOCH,
                    KafkaError.TRANSACTION_COORDINATOR_FENCED))  # fmt: skip
# How long a failed transaction's delivery reports are waited for (the records in flight).
SETTLE_SECONDS = 5.0
# librdkafka's own timeout comes first; a call still pending this much later hangs.
CALL_GRACE_SECONDS = 5.0
TIMED_OUT = frozenset((KafkaError._TIMED_OUT, KafkaError._TIMED_OUT_QUEUE))
# What the broker (or librdkafka before it) refuses for good: the same bytes are refused
# again. kafka-python's MessageSizeTooLarge, RecordListTooLarge, InvalidRecord, Corrupt.
REFUSED_FOR_GOOD = frozenset((KafkaError.MSG_SIZE_TOO_LARGE,  # also produce()'s own limit
                              KafkaError.RECORD_LIST_TOO_LARGE, KafkaError.INVALID_RECORD,
                              KafkaError.INVALID_MSG, KafkaError.INVALID_MSG_SIZE))  # fmt: skip


def call_error(exc: KafkaException, what: str) -> KafkaCallError:
    err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    if err is None:
        return KafkaCallError(f"{what}: {exc!r}")
    fenced = err.code() in FENCED
    # Fatal: the producer is done for (librdkafka: only a new instance goes on). Timed out:
    # the call may still complete; a successor's init_transactions settles it either way.
    stuck = not fenced and (err.fatal() or err.code() in TIMED_OUT)
    return KafkaCallError(f"{what}: {err.name()}: {err.str()}", fenced=fenced, stuck=stuck)


def _reported(err: KafkaError) -> None:
    """Client-wide errors (every broker down, and the like): librdkafka retries them. A
    refused connection is also in librdkafka's own log (FAIL), once a retry: not twice."""
    level = logging.DEBUG if err.code() == KafkaError._TRANSPORT else logging.WARNING
    log.log(level, "kafka client error: %s: %s", err.name(), err.str())


class _Record:
    """A consumed command: the attributes of kafka-python's ConsumerRecord it is read by."""

    __slots__ = ("headers", "key", "offset", "partition", "topic", "value")

    def __init__(self, message: Any) -> None:
        self.topic, self.partition = message.topic(), message.partition()
        self.offset = message.offset()
        self.key, self.value, self.headers = message.key(), message.value(), message.headers()


class Consumer:
    def __init__(self, bootstrap: str, client_id: str, group: str, topic: str) -> None:
        self.topic = topic
        self.consumer = RdConsumer({
            "bootstrap.servers": bootstrap,
            "client.id": client_id,
            "group.id": group,
            "socket.nagle.disable": True,  # as kafka-python: TCP_NODELAY
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": port.FETCH_MAX_WAIT_MS,
            "max.poll.interval.ms": port.MAX_POLL_INTERVAL_MS,
            "session.timeout.ms": port.SESSION_TIMEOUT_MS,
            "heartbeat.interval.ms": port.HEARTBEAT_INTERVAL_MS,
            "topic.metadata.refresh.interval.ms": port.METADATA_MAX_AGE_MS,
            "logger": rdkafka_log,
            "error_cb": _reported,
        })  # fmt: skip
        self.on_assigned: Partitions = lambda partitions: None
        self.on_revoked: Partitions = lambda partitions: None
        self.owned: set[int] = set()
        self.paused: set[int] = set()
        # A paused partition's record that was fetched anyway is dropped; it is read again
        # from here when the partition is resumed.
        self.rewind: dict[int, int] = {}
        self.subscribed: set[str] = set()
        self.last_error: int | None = None
        self.count, self.count_until = 0, 0.0

    def _assign(self, consumer: RdConsumer, partitions: list[TopicPartition]) -> None:
        consumer.assign(partitions)
        if partitions:
            consumer.pause(partitions)
        found = {tp.partition for tp in partitions}
        self.owned |= found
        self.paused |= found
        if found:
            self.on_assigned(found)

    def _revoke(self, consumer: RdConsumer, partitions: list[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions}
        self.owned -= gone
        self.paused -= gone
        for p in gone:
            self.rewind.pop(p, None)
        self.on_revoked(gone)

    def subscribe(self, on_assigned: Partitions, on_revoked: Partitions) -> None:
        self.on_assigned, self.on_revoked = on_assigned, on_revoked
        self.consumer.subscribe([self.topic], on_assign=self._assign, on_revoke=self._revoke,
                                on_lost=self._revoke)  # fmt: skip
        self.subscribed = {self.topic}

    def rejoin(self) -> None:
        self.consumer.unsubscribe()
        self.subscribe(self.on_assigned, self.on_revoked)

    def poll(self, timeout_ms: int) -> Batch:
        batch: Batch = {}
        # consume(n, timeout) waits until it has n records or the timeout passed: a lone
        # claim would wait the whole 200 ms. So: wait for one, then take what is there.
        first = self.consumer.poll(timeout_ms / 1000)
        if first is None:
            return batch
        for message in [first, *self.consumer.consume(port.MAX_POLL_RECORDS - 1, 0)]:
            err = message.error()
            if err is not None:
                self._consume_error(err)
                continue
            p = message.partition()
            if p in self.paused:
                self.rewind[p] = min(message.offset(), self.rewind.get(p, message.offset()))
                continue
            if p not in self.owned:
                continue
            records = batch.get(p)
            if records is None:
                batch[p] = records = []
            records.append(_Record(message))
        return batch

    def _consume_error(self, err: KafkaError) -> None:
        if err.fatal():
            raise KafkaCallError(f"consumer: {err.name()}: {err.str()}")
        if err.code() != self.last_error:  # e.g. the topic does not exist yet: once
            log.warning("consumer: %s: %s", err.name(), err.str())
            self.last_error = err.code()

    def resume(self, partition: int) -> None:
        tp = TopicPartition(self.topic, partition)
        self.consumer.resume([tp])
        self.paused.discard(partition)
        if partition in self.rewind:
            log.info("partition %s: records fetched while paused are read again", partition)
            self.seek(partition, self.rewind.pop(partition))

    def seek(self, partition: int, offset: int) -> None:
        try:
            self.consumer.seek(TopicPartition(self.topic, partition, offset))
        except KafkaException as exc:
            raise call_error(exc, "seek") from exc

    def assignment(self) -> set[int]:
        return set(self.owned)

    def subscription(self) -> set[str]:
        return set(self.subscribed)

    def partition_count(self) -> int:
        """Cached as long as the metadata refresh interval: asked on every idle step."""
        now = time.monotonic()
        if now >= self.count_until:
            self.count_until = now + port.METADATA_MAX_AGE_MS / 1000
            try:
                topic = self.consumer.list_topics(self.topic, timeout=2.0).topics.get(self.topic)
            except KafkaException as exc:
                log.warning("no metadata for %s: %r", self.topic, exc)
                return self.count
            self.count = len(topic.partitions) if topic is not None and not topic.error else 0
        return self.count

    def group_metadata(self) -> Any:
        return self.consumer.consumer_group_metadata()

    def close(self) -> None:
        self.consumer.close()


class _Delivery:
    """A record's delivery report, filled in by flush() or poll()."""

    __slots__ = ("done", "error")

    def __init__(self, error: KafkaError | None = None, done: bool = False) -> None:
        self.error, self.done = error, done

    def __call__(self, err: KafkaError | None, message: Any) -> None:
        self.error, self.done = err, True


class _Caller:
    """Runs one producer's transactional calls on a daemon thread and waits on each with a
    bound: a call that hangs in librdkafka leaves this thread stuck, never the processor."""

    def __init__(self, name: str) -> None:
        self.jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            method, args, failed, done = job
            try:
                method(*args)
            except BaseException as exc:  # handed to the waiting caller
                failed.append(exc)
            done.set()

    def call(self, what: str, bound_s: float, method: Any, *args: Any) -> None:
        failed: list[BaseException] = []
        done = threading.Event()
        self.jobs.put((method, args, failed, done))
        if not done.wait(bound_s):
            raise KafkaCallError(f"{what}: still pending after {bound_s:.0f} s, past its own "
                                 f"timeout", stuck=True)  # fmt: skip
        if failed:
            if isinstance(failed[0], KafkaException):
                raise call_error(failed[0], what) from failed[0]
            raise failed[0]

    def stop(self) -> None:
        self.jobs.put(None)  # after a stuck call, never taken: the thread stays parked


class Producer:
    def __init__(self, bootstrap: str, client_id: str, transactional_id: str) -> None:
        self.producer = RdProducer({
            "bootstrap.servers": bootstrap,
            "client.id": client_id,
            "transactional.id": transactional_id,
            "socket.nagle.disable": True,  # as kafka-python: TCP_NODELAY
            "transaction.timeout.ms": port.TRANSACTION_TIMEOUT_MS,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": port.LINGER_MS,
            "retry.backoff.ms": port.TXN_RETRY_BACKOFF_MS,
            "batch.size": port.BATCH_BYTES,
            "message.max.bytes": port.MAX_REQUEST_BYTES,
            "queue.buffering.max.messages": 1_000_000,
            "partitioner": "murmur2_random",
            "logger": rdkafka_log,
            "error_cb": _reported,
        })  # fmt: skip
        # A record librdkafka refused before sending (too large for it): the transaction
        # must not commit without it.
        self.refused_locally: KafkaError | None = None
        self.settled = False  # the failed transaction's delivery reports were waited for
        self.caller = _Caller(f"txn-calls-{client_id}")

    def _call(self, what: str, method: Any, *args: Any) -> None:
        try:
            method(*args)
        except KafkaException as exc:
            raise call_error(exc, what) from exc

    def _bounded(self, what: str, timeout_s: float, method: Any, *args: Any) -> None:
        self.caller.call(what, timeout_s + CALL_GRACE_SECONDS, method, *args, timeout_s)

    def init_transactions(self, timeout_s: float = port.CALL_SECONDS) -> None:
        self._bounded("init_transactions", timeout_s, self.producer.init_transactions)

    def begin(self) -> None:
        self.refused_locally, self.settled = None, False
        self._call("begin_transaction", self.producer.begin_transaction)

    def send(self, topic: str, value: bytes, key: bytes | None, partition: int | None = None,
             headers: list[tuple[str, bytes]] | None = None) -> Any:  # fmt: skip
        handle = _Delivery()
        kwargs: dict[str, Any] = {"key": key, "on_delivery": handle}
        if partition is not None:
            kwargs["partition"] = partition
        if headers:
            kwargs["headers"] = headers
        deadline = None
        while True:
            try:
                self.producer.produce(topic, value, **kwargs)
                return handle
            except BufferError:  # the local queue is full: let deliveries drain it
                deadline = deadline or time.monotonic() + port.CALL_SECONDS
                if time.monotonic() > deadline:
                    raise KafkaCallError("produce: the local queue stayed full",
                                         stuck=True) from None  # fmt: skip
                self.producer.poll(0.05)
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if isinstance(err, KafkaError) and err.code() in REFUSED_FOR_GOOD:
                    self.refused_locally = handle.error = err
                    handle.done = True
                    return handle
                raise call_error(exc, "produce") from exc

    def refusal(self, handle: Any) -> str | None:
        if not handle.done and not self.settled:
            # The refused record fails the transaction as soon as its produce response is
            # in (send_offsets_to_transaction already raises), and its delivery report is
            # served later: wait for the reports once, or the refusal would be missed and
            # the batch aborted twice (tests/integration/test_write_side_poison.py).
            self.settled = True
            self.producer.flush(SETTLE_SECONDS)
        err = handle.error
        if err is None or err.code() not in REFUSED_FOR_GOOD:
            return None
        return f"KafkaError({err.name()}: {err.str()})"

    def send_offsets(self, topic: str, offsets: dict[int, int], group_metadata: Any) -> None:
        found = [TopicPartition(topic, p, o) for p, o in offsets.items()]
        self._bounded("send_offsets_to_transaction", port.CALL_SECONDS,
                      self.producer.send_offsets_to_transaction, found, group_metadata)

    def flush(self) -> None:
        left = self.producer.flush(port.CALL_SECONDS)
        if left:
            raise KafkaCallError(f"flush: {left} record(s) still unsent after "
                                 f"{port.CALL_SECONDS:.0f} s", stuck=True)  # fmt: skip

    def commit(self) -> None:
        if self.refused_locally is not None:
            raise KafkaCallError(f"a record was refused: {self.refused_locally.str()}")
        self._bounded("commit_transaction", port.CALL_SECONDS, self.producer.commit_transaction)

    def abort(self) -> None:
        self._bounded("abort_transaction", port.CALL_SECONDS, self.producer.abort_transaction)

    def discard(self) -> None:
        """Drop its records and close it aside: close() aborts the open transaction first,
        which a stuck producer may wait on; its successor fences it meanwhile."""
        stuck = self.producer
        self.caller.stop()
        try:
            stuck.purge(in_queue=True, in_flight=True, blocking=False)
        except KafkaException as exc:
            log.warning("purging a stuck producer: %r", exc)
        threading.Thread(target=_close, args=(stuck,), name="discard-producer",
                         daemon=True).start()  # fmt: skip

    def close(self) -> None:
        self.caller.stop()
        _close(self.producer)


def _close(producer: RdProducer) -> None:
    try:
        close = getattr(producer, "close", None)  # older releases have none
        if close is not None:
            close()
        else:
            producer.flush(port.CALL_SECONDS)
    except KafkaException as exc:
        log.info("closing a producer: %r", exc)
