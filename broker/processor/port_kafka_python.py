"""The processor's Kafka port on kafka-python (broker.processor.kafka_port)."""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import (
    CorruptRecordError,
    InvalidRecordError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    ProducerFencedError,
    RecordListTooLargeError,
)
from kafka.structs import OffsetAndMetadata, TopicPartition

from broker.processor import kafka_port as port
from broker.processor import transactions
from broker.processor.kafka_port import Batch, KafkaCallError, Partitions

# What the broker refuses for good: a retry sends the same bytes and is refused again.
# Everything else (timeouts, leaders moving, fencing) is transient and retried.
REFUSED_FOR_GOOD = (MessageSizeTooLargeError, RecordListTooLargeError, InvalidRecordError,
                    CorruptRecordError)  # fmt: skip


def call_error(exc: KafkaError) -> KafkaCallError:
    return KafkaCallError(repr(exc), fenced=isinstance(exc, ProducerFencedError),
                          stuck=isinstance(exc, KafkaTimeoutError))  # fmt: skip


class _Rebalance(ConsumerRebalanceListener):
    """Runs inside kafka-python's network loop: only bookkeeping here, no slow reads."""

    def __init__(self, owner: Consumer, assigned: Partitions, revoked: Partitions) -> None:
        self.owner, self.assigned, self.revoked = owner, assigned, revoked

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.revoked({tp.partition for tp in revoked})

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if assigned:
            self.owner.consumer.pause(*assigned)
            self.assigned({tp.partition for tp in assigned})


class Consumer:
    def __init__(self, bootstrap: str, client_id: str, group: str, topic: str) -> None:
        self.topic = topic
        self.listener: _Rebalance | None = None
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            group_id=group,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            max_poll_records=port.MAX_POLL_RECORDS,
            fetch_max_wait_ms=port.FETCH_MAX_WAIT_MS,
            max_poll_interval_ms=port.MAX_POLL_INTERVAL_MS,
            session_timeout_ms=port.SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=port.HEARTBEAT_INTERVAL_MS,
            metadata_max_age_ms=port.METADATA_MAX_AGE_MS,
        )

    def _tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self.topic, partition)

    def subscribe(self, on_assigned: Partitions, on_revoked: Partitions) -> None:
        self.listener = _Rebalance(self, on_assigned, on_revoked)
        self.consumer.subscribe([self.topic], listener=self.listener)

    def rejoin(self) -> None:
        self.consumer.unsubscribe()
        self.consumer.subscribe([self.topic], listener=self.listener)

    def poll(self, timeout_ms: int) -> Batch:
        return {tp.partition: records
                for tp, records in self.consumer.poll(timeout_ms=timeout_ms).items()}  # fmt: skip

    def resume(self, partition: int) -> None:
        self.consumer.resume(self._tp(partition))

    def seek(self, partition: int, offset: int) -> None:
        self.consumer.seek(self._tp(partition), offset)

    def assignment(self) -> set[int]:
        return {tp.partition for tp in self.consumer.assignment()}

    def subscription(self) -> set[str]:
        return set(self.consumer.subscription() or ())

    def partition_count(self) -> int:
        return len(self.consumer.partitions_for_topic(self.topic) or ())

    def group_metadata(self) -> Any:
        return self.consumer.group_metadata()

    def close(self) -> None:
        self.consumer.close()


class Producer:
    def __init__(self, bootstrap: str, client_id: str, transactional_id: str) -> None:
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            transactional_id=transactional_id,
            transaction_timeout_ms=port.TRANSACTION_TIMEOUT_MS,
            linger_ms=port.LINGER_MS,
            # EndTxn is answered before the markers are written: a transaction begun within
            # those few ms gets CONCURRENT_TRANSACTIONS on AddPartitionsToTxn/AddOffsetsToTxn,
            # and kafka-python's sender sleeps retry_backoff_ms (default 100) before retrying,
            # ignoring the Java client's 20 ms override for this case. At 200 claims/s 3-4%
            # of the batches stalled 100-250 ms, and the commands queued behind them: a claim
            # p99 of 220-250 ms. bench.claims, back to back: 20 ms gave p99 56-61 ms, 5 ms
            # 36-38 ms. Reconnects keep their own backoff (50 ms to 30 s).
            retry_backoff_ms=port.TXN_RETRY_BACKOFF_MS,
            batch_size=port.BATCH_BYTES,
            max_request_size=port.MAX_REQUEST_BYTES,
        )

    def init_transactions(self, timeout_s: float = port.CALL_SECONDS) -> None:
        try:
            self.producer.init_transactions()  # kafka-python: no bound of its own
        except KafkaError as exc:
            raise call_error(exc) from exc

    def begin(self) -> None:
        try:
            self.producer.begin_transaction()
        except KafkaError as exc:
            raise call_error(exc) from exc

    def send(self, topic: str, value: bytes, key: bytes | None, partition: int | None = None,
             headers: list[tuple[str, bytes]] | None = None) -> Any:  # fmt: skip
        try:
            return self.producer.send(topic, value, key=key, partition=partition,
                                      headers=headers)  # fmt: skip
        except KafkaError as exc:
            raise call_error(exc) from exc

    def refusal(self, handle: Any) -> str | None:
        error = handle.exception if handle.failed() else None
        return repr(error) if isinstance(error, REFUSED_FOR_GOOD) else None

    def send_offsets(self, topic: str, offsets: dict[int, int], group_metadata: Any) -> None:
        found = {TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()}
        try:
            transactions.send_offsets(self.producer, found, group_metadata)
        except KafkaError as exc:
            raise call_error(exc) from exc

    def flush(self) -> None:
        try:
            self.producer.flush(timeout=port.CALL_SECONDS)
        except KafkaError as exc:
            raise call_error(exc) from exc

    def commit(self) -> None:
        try:
            transactions.commit(self.producer)
        except KafkaError as exc:
            raise call_error(exc) from exc

    def abort(self) -> None:
        try:
            transactions.abort(self.producer)
        except KafkaError as exc:
            raise call_error(exc) from exc

    def discard(self) -> None:
        transactions.discard(self.producer)

    def close(self) -> None:
        self.producer.close()
