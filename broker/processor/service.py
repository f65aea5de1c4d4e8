"""The command processor: consume commands, decide, write events + reply + offset atomically.

One Kafka transaction per polled batch holds the new events, the replies, the outbox
commands (worker credits) and the consumed offsets. A crash at any point either commits
all of them or none, so no event is lost or duplicated (invariant 6).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
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

from broker.domain.policy import Policy
from broker.domain.shard import Decision
from broker.processor import transactions, writable
from broker.processor.chain import chain_committed, chain_rolled_back
from broker.processor.orphan_watch import OrphanWatch
from broker.processor.partition_state import PartitionState, rebuild
from broker.processor.writable import EncodedDecision, Unwritable, encode_decision
from runtime import metrics
from runtime.clock import Clock
from runtime.deadletter import dead_letter_for
from runtime.kafka_io import snapshot_consumer
from runtime.settings import Settings
from schemas.codec import decode_command, decode_reply, encode_reply
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
# What the broker refuses for good: a retry sends the same bytes and is refused again.
# Everything else (timeouts, leaders moving, fencing) is transient and retried.
REFUSED_FOR_GOOD = (MessageSizeTooLargeError, RecordListTooLargeError, InvalidRecordError,
                    CorruptRecordError)  # fmt: skip


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
        # The open transaction's sends, each with the command record it is for.
        self.in_flight: list[tuple[Any, ConsumerRecord]] = []
        # (partition, offset) of commands whose records the broker refused for good: refused
        # when the aborted batch is read again, with the broker's reason.
        self.unwritable: dict[tuple[int, int], str] = {}
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
            # A group that formed before this broker's metadata listed the new commands
            # topic gets an empty assignment, and only a metadata refresh that shows the
            # partitions makes the leader rejoin: at the 5-minute default the processor
            # sat idle for 300 s in CI (the "No partition metadata" stall).
            metadata_max_age_ms=5_000,
        )
        # A stable transactional id per instance: a restarted instance fences its
        # predecessor and aborts whatever transaction it left open.
        self.transactional_id = f"{group}-{instance}"
        self.producer = self._make_producer()
        self.orphans = OrphanWatch(settings.kafka, group, settings.topics.commands)

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
        self._rejoin_if_orphaned()
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

    def _rejoin_if_orphaned(self) -> None:
        if self.consumer.assignment():
            self.orphans.should_rejoin(True, 0, time.monotonic())  # resets the idle clock
            return
        partitions = self.consumer.partitions_for_topic(self.settings.topics.commands) or ()
        if self.orphans.should_rejoin(False, len(partitions), time.monotonic()):
            self.consumer.unsubscribe()
            self.consumer.subscribe([self.settings.topics.commands], listener=_Rebalance(self))

    def close(self) -> None:
        self.consumer.close()
        self.reader.close()
        self.producer.close()

    def _process(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        started = time.perf_counter()
        self.in_flight = []
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
            chain_committed(self.states, batch)
        except KafkaError as exc:
            self._count_fencing(exc)
            refused = self._refused_for_good()
            log.warning("transaction failed, aborting and replaying the batch%s: %r",
                        f" (refusing {len(refused)} command(s) for good)" if refused else "",
                        exc)  # fmt: skip
            self.unwritable.update(refused)
            metrics.TRANSACTION_ABORTS.inc()
            # A call that timed out left the producer stuck: aborting would wait as long.
            # A refused record leaves kafka-python bumping its epoch, and the next
            # transaction fails out of sequence: a new producer starts clean instead.
            self._recover(batch, stuck=isinstance(exc, KafkaTimeoutError) or bool(refused))
            return
        self.fenced_in_a_row = 0
        metrics.TRANSACTION_SECONDS.observe(time.perf_counter() - started)
        metrics.TRANSACTION_COMMANDS.observe(sum(len(r) for r in batch.values()))

    def _refused_for_good(self) -> dict[tuple[int, int], str]:
        """The commands whose records the broker refused with an error no retry can fix.
        Commands whose records shared a refused producer batch are refused with it."""
        found: dict[tuple[int, int], str] = {}
        for future, origin in self.in_flight:
            error = future.exception if future.failed() else None
            if isinstance(error, REFUSED_FOR_GOOD):
                found[(origin.partition, origin.offset)] = f"the log refused a record: {error!r}"
        return found

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
        chain_rolled_back(self.states, batch)  # an aborted record never enters the chain
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
            self._answer_again(state.partition, envelope, earlier)
            return
        now = self.clock.now_ms()
        try:
            if (record.partition, record.offset) in self.unwritable:
                raise Unwritable("unwritable", self.unwritable.pop((record.partition,
                                                                    record.offset)))
            decision = state.shard.decide(envelope, now, self.policy)
            encoded = encode_decision(decision)
        except Unwritable as exc:
            # Refused once, for good: retrying cannot make the broker take these records.
            self._dead_letter(record, exc.code, exc.message)
            reply = writable.refused(envelope.command_id, exc, now, envelope.fingerprint)
            encoded = None
        except Exception as exc:  # a bug must not stop the pipeline; keep the record
            log.exception("deciding %s failed", envelope.command_id,
                          extra={"correlation_id": envelope.correlation_id})  # runtime.logs
            self._dead_letter(record, "internal_error", repr(exc))
            reply = Reply(envelope.command_id, False, "internal_error", "could not decide", (),
                          {}, now, envelope.fingerprint)  # fmt: skip
            encoded = None
        if encoded is None:
            state.replies[envelope.command_id] = raw_reply = encode_reply(reply)
        else:
            reply, raw_reply = decision.reply, encoded.reply
            self._write(state, record, envelope, decision, encoded)
            state.replies[envelope.command_id] = raw_reply
        self._send(record, self.settings.topics.replies, raw_reply,
                   envelope.command_id.encode(), state.partition)  # fmt: skip
        outcome = "accepted" if reply.accepted else "refused"
        metrics.COMMANDS.labels(envelope.type, outcome).inc()
        if not reply.accepted:
            metrics.REFUSALS.labels(reply.code).inc()

    def _answer_again(self, partition: int, envelope: CommandEnvelope, earlier: bytes) -> None:
        """A retry gets its first answer again and decides nothing; the same command id with
        another request's fingerprint (an Idempotency-Key reused) is refused, unremembered."""
        first = decode_reply(earlier)
        if first.fingerprint and envelope.fingerprint and first.fingerprint != envelope.fingerprint:
            again = Reply(envelope.command_id, False, "idempotency_key_reused",
                          "this Idempotency-Key was used for a different request",
                          decided_at=first.decided_at, fingerprint=envelope.fingerprint)
            metrics.COMMANDS.labels(envelope.type, "refused").inc()
            metrics.REFUSALS.labels(again.code).inc()
        else:
            again = dataclasses.replace(first, replayed=True)
            metrics.COMMANDS.labels(envelope.type, "duplicate").inc()
        self.producer.send(self.settings.topics.replies, encode_reply(again),
                           key=envelope.command_id.encode(), partition=partition)  # fmt: skip

    def _write(self, state: PartitionState, record: ConsumerRecord, envelope: CommandEnvelope,
               decision: Decision, encoded: EncodedDecision) -> None:  # fmt: skip
        key = envelope.partition_key.encode()
        for event in decision.events:
            state.shard.apply(event)
        for value in encoded.events:
            self._send(record, self.settings.topics.events, value, key, state.partition,
                       state.chain.stamp(value))  # fmt: skip
        metrics.EVENTS_WRITTEN.inc(len(decision.events))
        for command_key, value in encoded.outbox:
            self._send(record, self.settings.topics.commands, value, command_key)

    def _send(self, origin: ConsumerRecord, topic: str, value: bytes, key: bytes,
              partition: int | None = None,
              headers: list[tuple[str, bytes]] | None = None) -> None:  # fmt: skip
        """Send within the open transaction, remembering which command the record is for:
        a record the broker refuses for good names the command to refuse (see _process)."""
        future = self.producer.send(topic, value, key=key, partition=partition, headers=headers)
        self.in_flight.append((future, origin))

    def _dead_letter(self, record: ConsumerRecord, code: str, reason: str) -> None:
        letter = dead_letter_for(record, code, reason, self.name, self.clock.now_ms())
        self.producer.send(self.settings.topics.dead_letter, letter.encode(), key=record.key)
        metrics.DEAD_LETTERS.labels(self.name.split("-")[0], code).inc()
