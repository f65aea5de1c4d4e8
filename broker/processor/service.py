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
from collections.abc import Callable
from typing import Any

from kafka.errors import KafkaError

from broker.domain.policy import Policy
from broker.domain.shard import Decision
from broker.processor import kafka_port, writable
from broker.processor.chain import chain_committed, chain_rolled_back
from broker.processor.kafka_port import (
    Batch,
    CommandConsumer,
    KafkaCallError,
    Record,
    TransactionalProducer,
)
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
FENCED_LIMIT = 3  # fenced this many times in a row, with no commit between: a twin
# What fails a transaction: the port's calls, and the rebuild's reads (kafka-python's
# snapshot consumer, whichever client the processor's loop runs on).
FAILURES = (KafkaCallError, KafkaError)


def open_clients(settings: Settings, name: str, group: str, transactional_id: str
                 ) -> tuple[CommandConsumer, Callable[[], TransactionalProducer]]:  # fmt: skip
    """The consumer and a producer factory of the client PIECEWORK_PROCESSOR_CLIENT names."""
    if kafka_port.check_client(settings.processor_client) == "confluent-kafka":
        from broker.processor import port_confluent as client
    else:
        from broker.processor import port_kafka_python as client  # type: ignore[no-redef]
    log.info("%s: Kafka client %s", name, settings.processor_client)
    consumer = client.Consumer(settings.kafka, name, group, settings.topics.commands)
    return consumer, lambda: client.Producer(settings.kafka, name, transactional_id)


class CommandProcessor:
    def __init__(
        self, settings: Settings, policy: Policy, clock: Clock, instance: str = "0"
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.clock = clock
        self.name = f"processor-{instance}"
        self.states: dict[int, PartitionState] = {}
        self.to_rebuild: set[int] = set()  # assigned partitions, paused until rebuilt
        self.stop = threading.Event()  # run() installs the caller's
        self.fenced_in_a_row = 0
        # The open transaction's sends, each with the command record it is for.
        self.in_flight: list[tuple[Any, Record]] = []
        # (partition, offset) of commands whose records the broker refused for good: refused
        # when the aborted batch is read again, with the broker's reason.
        self.unwritable: dict[tuple[int, int], str] = {}
        group = f"{settings.topics.prefix}-processor"
        self.reader = snapshot_consumer(settings.kafka, f"{self.name}-rebuild")
        # A stable transactional id per instance: a restarted instance fences its
        # predecessor and aborts whatever transaction it left open.
        self.transactional_id = f"{group}-{instance}"
        self.consumer, self._make_producer = open_clients(settings, self.name, group,
                                                          self.transactional_id)  # fmt: skip
        self.producer = self._make_producer()
        self.orphans = OrphanWatch(settings.kafka, group, settings.topics.commands)

    def start(self) -> None:
        self.producer.init_transactions(RECOVERY_SECONDS)
        self.consumer.subscribe(self._assigned, self._revoked)

    def _assigned(self, partitions: set[int]) -> None:
        """Inside poll(): bookkeeping only. The port paused them; they are resumed once the
        main loop has rebuilt their aggregates, so the heartbeat goes on meanwhile."""
        self.to_rebuild.update(partitions)

    def _revoked(self, partitions: set[int]) -> None:
        for partition in partitions:
            self.states.pop(partition, None)
            self.to_rebuild.discard(partition)
        metrics.OWNED_PARTITIONS.set(len(self.states))

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
            partition = min(self.to_rebuild)
            try:
                state = rebuild(self.reader, self.settings.topics, partition)
            except FAILURES as exc:
                # For seconds after a broker dies, metadata still names it and a read
                # may fail: the partition stays paused and is rebuilt on the next step.
                log.warning("rebuilding partition %s failed, retrying: %r", partition, exc)
                return
            self.states[partition] = state
            self.to_rebuild.discard(partition)
            self.consumer.resume(partition)
        metrics.OWNED_PARTITIONS.set(len(self.states))

    def _rejoin_if_orphaned(self) -> None:
        if self.consumer.assignment():
            self.orphans.should_rejoin(True, 0, time.monotonic())  # resets the idle clock
            return
        if self.orphans.should_rejoin(False, self.consumer.partition_count(), time.monotonic()):
            self.consumer.rejoin()

    def close(self) -> None:
        self.consumer.close()
        self.reader.close()
        self.producer.close()

    def _process(self, batch: Batch) -> None:
        started = time.perf_counter()
        self.in_flight = []
        self.producer.begin()
        try:
            for partition, records in batch.items():
                state = self.states[partition]
                for record in records:
                    self._handle(state, record)
            offsets = {partition: records[-1].offset + 1 for partition, records in batch.items()}
            self.producer.send_offsets(self.settings.topics.commands, offsets,
                                       self.consumer.group_metadata())  # fmt: skip
            self.producer.flush()
            self.producer.commit()
            chain_committed(self.states, batch)
        except FAILURES as exc:
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
            stuck = isinstance(exc, KafkaCallError) and exc.stuck
            self._recover(batch, stuck=stuck or bool(refused))
            return
        self.fenced_in_a_row = 0
        metrics.TRANSACTION_SECONDS.observe(time.perf_counter() - started)
        metrics.TRANSACTION_COMMANDS.observe(sum(len(r) for r in batch.values()))

    def _refused_for_good(self) -> dict[tuple[int, int], str]:
        """The commands whose records the broker refused with an error no retry can fix.
        Commands whose records shared a refused producer batch are refused with it."""
        found: dict[tuple[int, int], str] = {}
        for handle, origin in self.in_flight:
            error = self.producer.refusal(handle)
            if error is not None:
                found[(origin.partition, origin.offset)] = f"the log refused a record: {error}"
        return found

    def _count_fencing(self, exc: Exception) -> None:
        """Fencing is not only another instance with our id: a coordinator that aborted a
        transaction on timeout (a broker outage), or the client bumping its own epoch after
        a coordinator's broker died, reads the same. So a fenced processor starts a new
        producer, unless it keeps being fenced: then a twin really owns the id, stop."""
        if not (isinstance(exc, KafkaCallError) and exc.fenced):
            return
        self.fenced_in_a_row += 1
        if self.fenced_in_a_row > FENCED_LIMIT:
            raise exc

    def _recover(self, batch: Batch, stuck: bool = False) -> None:
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
                for partition, records in batch.items():
                    if partition in self.states:  # not revoked meanwhile
                        self.states[partition] = rebuild(
                            self.reader, self.settings.topics, partition
                        )
                        self.consumer.seek(partition, records[0].offset)
                return
            except FAILURES as exc:
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
            self.producer.abort()
        except KafkaCallError as exc:
            log.warning("abort refused (%r): replacing the transactional producer", exc)
            self._replace_producer()

    def _replace_producer(self) -> None:
        self.producer.discard()
        self.producer = self._make_producer()
        self.producer.init_transactions()  # fences the old one, aborts its transaction

    def _handle(self, state: PartitionState, record: Record) -> None:
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
                           envelope.command_id.encode(), partition)  # fmt: skip

    def _write(self, state: PartitionState, record: Record, envelope: CommandEnvelope,
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

    def _send(self, origin: Record, topic: str, value: bytes, key: bytes,
              partition: int | None = None,
              headers: list[tuple[str, bytes]] | None = None) -> None:  # fmt: skip
        """Send within the open transaction, remembering which command the record is for:
        a record the broker refuses for good names the command to refuse (see _process)."""
        handle = self.producer.send(topic, value, key, partition, headers)
        self.in_flight.append((handle, origin))

    def _dead_letter(self, record: Record, code: str, reason: str) -> None:
        letter = dead_letter_for(record, code, reason, self.name, self.clock.now_ms())
        self.producer.send(self.settings.topics.dead_letter, letter.encode(), record.key)
        metrics.DEAD_LETTERS.labels(self.name.split("-")[0], code).inc()
