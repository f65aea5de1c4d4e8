"""The command processor: consume commands, decide, write events + reply + offset atomically.

One Kafka transaction per polled batch holds the new events, the replies, the outbox
commands (worker credits) and the consumed offsets. A crash at any point either commits
all of them or none, so no event is lost or duplicated (invariant 6).
"""

from __future__ import annotations

import logging
import threading
import time

from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError, KafkaTimeoutError, ProducerFencedError
from kafka.structs import OffsetAndMetadata, TopicPartition

from broker import metrics
from broker.clock import Clock
from broker.config import Settings
from broker.deadletter import dead_letter_for
from broker.domain.policy import Policy
from broker.kafka_io import snapshot_consumer
from broker.processor import transactions
from broker.processor.partition_state import PartitionState, rebuild
from schemas.codec import decode_command, encode_command, encode_event_records, encode_reply
from schemas.envelope import CommandEnvelope, Reply
from schemas.errors import SchemaError

log = logging.getLogger(__name__)
RECOVERY_SECONDS = 300.0
# An orphaned transaction of a vanished instance holds back read-committed readers this long.
TRANSACTION_TIMEOUT_MS = 15_000
# EndTxn is answered before the markers are written: a transaction begun within those few
# ms gets CONCURRENT_TRANSACTIONS on AddPartitionsToTxn/AddOffsetsToTxn, and kafka-python's
# sender sleeps retry_backoff_ms (default 100) before retrying, ignoring the Java client's
# 20 ms override for this case. At 200 claims/s 3-4% of the batches stalled 100-250 ms, and
# the commands queued behind them: a claim p99 of 220-250 ms. bench.claims, back to back:
# 20 ms gave p99 56-61 ms, 5 ms 36-38 ms. Reconnects keep their own backoff (50 ms to 30 s).
TXN_RETRY_BACKOFF_MS = 5
FENCED_LIMIT = 3  # fenced this many times in a row, with no commit between: a twin


class _Rebalance(ConsumerRebalanceListener):
    """Runs inside kafka-python's network loop: only bookkeeping here, no slow reads.

    New partitions are paused until the main loop has rebuilt their aggregates, so the
    heartbeat keeps going while a long log is folded.
    """

    def __init__(self, processor: CommandProcessor) -> None:
        self.processor = processor

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            self.processor.states.pop(tp.partition, None)
            self.processor.to_rebuild.discard(tp)
        metrics.OWNED_PARTITIONS.set(len(self.processor.states))

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if assigned:
            self.processor.consumer.pause(*assigned)
            self.processor.to_rebuild.update(assigned)


class CommandProcessor:
    def __init__(
        self, settings: Settings, policy: Policy, clock: Clock, instance: str = "0"
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.clock = clock
        self.name = f"processor-{instance}"
        self.states: dict[int, PartitionState] = {}
        self.to_rebuild: set[TopicPartition] = set()
        self.stop = threading.Event()  # run() installs the caller's
        self.fenced_in_a_row = 0
        group = f"{settings.topics.prefix}-processor"
        self.reader = snapshot_consumer(settings.kafka, f"{self.name}-rebuild")
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka,
            client_id=self.name,
            group_id=group,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            max_poll_records=1_000,
            fetch_max_wait_ms=50,
            max_poll_interval_ms=600_000,
            # A killed instance's partitions move after 10 s, not the 45 s default.
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
        )
        # A stable transactional id per instance: a restarted instance fences its
        # predecessor and aborts whatever transaction it left open.
        self.transactional_id = f"{group}-{instance}"
        self.producer = self._make_producer()

    def _make_producer(self) -> KafkaProducer:
        return KafkaProducer(
            bootstrap_servers=self.settings.kafka,
            client_id=self.name,
            transactional_id=self.transactional_id,
            transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
            linger_ms=1,
            retry_backoff_ms=TXN_RETRY_BACKOFF_MS,
            batch_size=512 * 1024,
            max_request_size=16 * 1024 * 1024,
        )

    def start(self) -> None:
        self.producer.init_transactions()
        self.consumer.subscribe([self.settings.topics.commands], listener=_Rebalance(self))

    def run(self, stop: threading.Event) -> None:
        self.stop = stop
        self.start()
        try:
            while not stop.is_set():
                self.step()
        finally:
            self.close()

    def step(self, timeout_ms: int = 200) -> int:
        self._rebuild_assigned()
        batch = self.consumer.poll(timeout_ms=timeout_ms)
        if batch:
            self._process(batch)
        return sum(len(records) for records in batch.values())

    def _rebuild_assigned(self) -> None:
        while self.to_rebuild:
            tp = min(self.to_rebuild)
            try:
                state = rebuild(self.reader, self.settings.topics, tp.partition)
            except KafkaError as exc:
                # For seconds after a broker dies, metadata still names it and a read
                # may fail: the partition stays paused and is rebuilt on the next step.
                log.warning("rebuilding partition %s failed, retrying: %r", tp.partition, exc)
                return
            self.states[tp.partition] = state
            self.to_rebuild.discard(tp)
            self.consumer.resume(tp)
        metrics.OWNED_PARTITIONS.set(len(self.states))

    def close(self) -> None:
        self.consumer.close()
        self.reader.close()
        self.producer.close()

    def _process(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        started = time.perf_counter()
        self.producer.begin_transaction()
        try:
            for tp, records in batch.items():
                state = self.states[tp.partition]
                for record in records:
                    self._handle(state, record)
            offsets = {
                tp: OffsetAndMetadata(records[-1].offset + 1, "", -1)
                for tp, records in batch.items()
            }
            transactions.send_offsets(self.producer, offsets, self.consumer.group_metadata())
            self.producer.flush(timeout=transactions.CALL_SECONDS)
            transactions.commit(self.producer)
        except KafkaError as exc:
            self._count_fencing(exc)
            log.warning("transaction failed, aborting and replaying the batch: %r", exc)
            # A call that timed out left the producer stuck: aborting would wait as long.
            self._recover(batch, stuck=isinstance(exc, KafkaTimeoutError))
            return
        self.fenced_in_a_row = 0
        metrics.TRANSACTION_SECONDS.observe(time.perf_counter() - started)
        metrics.TRANSACTION_COMMANDS.observe(sum(len(r) for r in batch.values()))

    def _count_fencing(self, exc: KafkaError) -> None:
        """Fencing is not only another instance with our id: a coordinator that aborted a
        transaction on timeout (a broker outage), or the client bumping its own epoch after
        a coordinator's broker died, reads the same. So a fenced processor starts a new
        producer, unless it keeps being fenced: then a twin really owns the id, stop."""
        if not isinstance(exc, ProducerFencedError):
            return
        self.fenced_in_a_row += 1
        if self.fenced_in_a_row > FENCED_LIMIT:
            raise exc

    def _recover(
        self, batch: dict[TopicPartition, list[ConsumerRecord]], stuck: bool = False
    ) -> None:
        """Abort, forget the in-memory effects of the batch, and read it again.

        Retried until the broker answers again (within RECOVERY_SECONDS): a broker
        restart costs the processor some time, not its life.
        """
        deadline = time.monotonic() + RECOVERY_SECONDS
        aborted = False
        while True:
            try:
                if not aborted:
                    if stuck:
                        self._replace_producer()
                    else:
                        self._abort()
                    aborted = True
                for tp, records in batch.items():
                    if tp.partition in self.states:  # not revoked meanwhile
                        self.states[tp.partition] = rebuild(
                            self.reader, self.settings.topics, tp.partition
                        )
                        self.consumer.seek(tp, records[0].offset)
                return
            except KafkaError as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("recovery failed, retrying in 1 s: %s", exc)
                if self.stop.wait(1.0):
                    return  # shutting down: nothing is committed, the state is dropped

    def _abort(self) -> None:
        """Abort the open transaction. A producer caught mid-way by an outage (fenced, or
        still bumping its epoch, or its call timed out) refuses to: a new one with the same
        transactional id replaces it, and its init_transactions aborts the open
        transaction on the broker."""
        try:
            transactions.abort(self.producer)
        except KafkaError as exc:
            log.warning("abort refused (%r): replacing the transactional producer", exc)
            self._replace_producer()

    def _replace_producer(self) -> None:
        transactions.discard(self.producer)
        self.producer = self._make_producer()
        self.producer.init_transactions()  # fences the old one, aborts its transaction

    def _handle(self, state: PartitionState, record: ConsumerRecord) -> None:
        try:
            envelope = decode_command(record.value)
        except SchemaError as exc:
            self._dead_letter(record, exc.code, str(exc))
            return
        earlier = state.replies.get(envelope.command_id)
        if earlier is not None:
            # A retry: answer again, decide nothing.
            self._send_encoded_reply(state.partition, envelope.command_id, earlier)
            metrics.COMMANDS.labels(envelope.type, "duplicate").inc()
            return
        now = self.clock.now_ms()
        try:
            decision = state.shard.decide(envelope, now, self.policy)
        except Exception as exc:  # a bug must not stop the pipeline; keep the record
            log.exception("deciding %s failed", envelope.command_id)
            self._dead_letter(record, "internal_error", repr(exc))
            decision = None
        if decision is None:
            reply = Reply(envelope.command_id, False, "internal_error", "could not decide", (), {})
        else:
            reply = decision.reply
            self._write(state, envelope, decision)
        encoded = state.replies[envelope.command_id] = encode_reply(reply)
        self._send_encoded_reply(state.partition, envelope.command_id, encoded)
        outcome = "accepted" if reply.accepted else "refused"
        metrics.COMMANDS.labels(envelope.type, outcome).inc()
        if not reply.accepted:
            metrics.REFUSALS.labels(reply.code).inc()

    def _write(self, state: PartitionState, envelope: CommandEnvelope, decision) -> None:
        key = envelope.partition_key.encode()
        for event in decision.events:
            state.shard.apply(event)
        for value in encode_event_records(decision.events):
            self.producer.send(
                self.settings.topics.events, value, key=key, partition=state.partition
            )
        metrics.EVENTS_WRITTEN.inc(len(decision.events))
        for command in decision.outbox:
            self.producer.send(
                self.settings.topics.commands,
                encode_command(command),
                key=command.partition_key.encode(),
            )

    def _send_encoded_reply(self, partition: int, command_id: str, encoded: bytes) -> None:
        self.producer.send(
            self.settings.topics.replies, encoded, key=command_id.encode(), partition=partition
        )

    def _dead_letter(self, record: ConsumerRecord, code: str, reason: str) -> None:
        letter = dead_letter_for(record, code, reason, self.name, self.clock.now_ms())
        self.producer.send(self.settings.topics.dead_letter, letter.encode(), key=record.key)
        metrics.DEAD_LETTERS.labels(self.name.split("-")[0], code).inc()
