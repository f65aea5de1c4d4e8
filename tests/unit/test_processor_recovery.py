"""The processor's way out of a failed transaction, with fakes for Kafka.

Found by tests/e2e/test_broker_restart.py: after a broker outage the producer may refuse
to abort (mid epoch bump), or read the coordinator's timeout abort as fencing; either
used to kill the processor.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from kafka.future import Future

from broker.processor import port_kafka_python, service
from broker.processor.kafka_port import KafkaCallError
from broker.processor.partition_state import PartitionState
from broker.processor.service import CommandProcessor

TP = 0  # the port names a commands partition by its number

FENCED = KafkaCallError("ProducerFencedError", fenced=True)
TIMED_OUT = KafkaCallError("commit still pending", stuck=True)


class FakeProducer:
    """The port's TransactionalProducer (broker.processor.kafka_port), recording calls."""

    def __init__(self, abort_error: Exception | None = None,
                 commit_error: Exception | None = None) -> None:
        self.abort_error, self.commit_error = abort_error, commit_error
        self.calls: list[str] = []

    def begin(self) -> None:
        self.calls.append("begin")

    def send_offsets(self, topic, offsets, metadata) -> None:
        self.calls.append("offsets")

    def flush(self) -> None:
        self.calls.append("flush")

    def commit(self) -> None:
        self.calls.append("commit")
        if self.commit_error:
            raise self.commit_error

    def abort(self) -> None:
        self.calls.append("abort")
        if self.abort_error:
            raise self.abort_error

    def init_transactions(self, timeout_s: float = 0) -> None:
        self.calls.append("init")

    def discard(self) -> None:
        self.calls.append("close")

    def refusal(self, handle) -> str | None:
        return port_kafka_python.Producer.refusal(self, handle)  # the kafka-python reading


class FakeConsumer:
    def __init__(self) -> None:
        self.seeks: list[tuple[int, int]] = []
        self.resumed: list[int] = []

    def resume(self, partition: int) -> None:
        self.resumed.append(partition)

    def seek(self, partition: int, offset: int) -> None:
        self.seeks.append((partition, offset))

    def group_metadata(self) -> object:
        return object()


def processor(monkeypatch, producer: FakeProducer, rebuild_errors: int = 0):
    """A CommandProcessor with no sockets: fakes for its clients, a counting rebuild."""
    proc = object.__new__(CommandProcessor)
    proc.settings = SimpleNamespace(topics=SimpleNamespace(commands="t.commands"))
    proc.name, proc.transactional_id = "processor-t", "t-processor-t"
    proc.states = {0: PartitionState(0)}
    proc.consumer, proc.reader, proc.producer = FakeConsumer(), object(), producer
    proc.replacements = []
    rebuilds = []

    def rebuild(reader, topics, partition):
        rebuilds.append(partition)
        if len(rebuilds) <= rebuild_errors:
            raise KafkaConnectionError("broker away")
        return PartitionState(partition)

    def make_producer():
        proc.replacements.append(FakeProducer())
        return proc.replacements[-1]

    monkeypatch.setattr(service, "rebuild", rebuild)
    proc.stop = SimpleNamespace(wait=lambda seconds: False)  # never asked to stop
    proc.fenced_in_a_row = 0
    proc.in_flight, proc.unwritable = [], {}
    proc._make_producer = make_producer
    monkeypatch.setattr(proc, "_handle", lambda state, record: None)
    proc.rebuilds = rebuilds
    return proc


BATCH = {TP: [SimpleNamespace(offset=40), SimpleNamespace(offset=41)]}


def test_a_failed_commit_aborts_rebuilds_and_reads_the_batch_again(monkeypatch):
    proc = processor(monkeypatch, FakeProducer(commit_error=KafkaCallError("broker away")))
    proc._process(BATCH)
    assert proc.producer.calls[-1] == "abort" and not proc.replacements
    assert proc.rebuilds == [0] and proc.consumer.seeks == [(TP, 40)]


def failed_send(error: Exception) -> Future:
    future = Future()
    future.failure(error)
    return future


def test_a_record_refused_for_good_names_its_command_once(monkeypatch):
    """The broker refused one command's record as too large: the batch is aborted once and
    read again, and that command (only) is then refused instead of decided."""
    proc = processor(monkeypatch, FakeProducer(commit_error=KafkaCallError("txn in error state")))
    bad, good = BATCH[TP]
    bad.partition, good.partition = 0, 0

    def handle(state, record):
        error = MessageSizeTooLargeError() if record is bad else None
        proc.in_flight.append((failed_send(error) if error else Future().success(1), record))

    monkeypatch.setattr(proc, "_handle", handle)
    proc._process(BATCH)
    # aborted once, by a new producer (whose init_transactions aborts the open transaction):
    # the old one is mid epoch bump and would fail the next transaction out of sequence
    assert len(proc.replacements) == 1 and proc.producer.calls == ["init"]
    assert list(proc.unwritable) == [(0, 40)]
    assert "MessageSizeTooLarge" in proc.unwritable[(0, 40)]


def test_a_transient_failure_refuses_nothing(monkeypatch):
    proc = processor(monkeypatch, FakeProducer(commit_error=KafkaCallError("broker away")))
    bad = BATCH[TP][0]
    bad.partition = 0
    monkeypatch.setattr(proc, "_handle", lambda state, record: proc.in_flight.append(
        (failed_send(KafkaConnectionError("gone")), record)))
    proc._process(BATCH)
    assert proc.unwritable == {}


def test_a_producer_that_refuses_to_abort_is_replaced(monkeypatch):
    stuck = KafkaCallError("Invalid transition from BUMPING_PRODUCER_EPOCH to ABORTING")
    proc = processor(monkeypatch, FakeProducer(commit_error=KafkaCallError("x"),
                                               abort_error=stuck))  # fmt: skip
    proc._process(BATCH)
    assert len(proc.replacements) == 1 and proc.producer is proc.replacements[0]
    assert proc.producer.calls == ["init"]  # the new one fences the old and aborts its txn
    assert proc.consumer.seeks == [(TP, 40)]


def test_recovery_waits_for_the_broker_to_come_back(monkeypatch):
    proc = processor(monkeypatch, FakeProducer(commit_error=KafkaCallError("x")), rebuild_errors=2)
    proc._process(BATCH)
    assert proc.rebuilds == [0, 0, 0] and proc.consumer.seeks == [(TP, 40)]
    assert proc.producer.calls.count("abort") == 1  # aborted once, not once per retry


def test_fenced_once_starts_a_new_producer(monkeypatch):
    proc = processor(monkeypatch, FakeProducer(commit_error=FENCED, abort_error=FENCED))
    proc._process(BATCH)
    assert len(proc.replacements) == 1 and proc.consumer.seeks == [(TP, 40)]


def test_fenced_again_and_again_means_a_twin_owns_the_id(monkeypatch):
    proc = processor(monkeypatch, FakeProducer(commit_error=FENCED))
    proc._make_producer = lambda: FakeProducer(commit_error=FENCED)
    for _ in range(service.FENCED_LIMIT):
        proc._process(BATCH)
    with pytest.raises(KafkaCallError) as raised:
        proc._process(BATCH)
    assert raised.value.fenced


def test_a_commit_resets_the_fencing_count(monkeypatch):
    proc = processor(monkeypatch, FakeProducer())
    proc.fenced_in_a_row = service.FENCED_LIMIT
    proc._process(BATCH)
    assert proc.fenced_in_a_row == 0


def test_a_call_that_timed_out_replaces_the_producer_without_waiting_on_abort(monkeypatch):
    stuck = FakeProducer(commit_error=TIMED_OUT)
    proc = processor(monkeypatch, stuck)
    proc._process(BATCH)
    assert "abort" not in stuck.calls and stuck.calls[-1] == "close"
    assert proc.producer is proc.replacements[0] and proc.producer.calls == ["init"]


def test_a_stop_during_recovery_ends_it(monkeypatch):
    proc = processor(monkeypatch, FakeProducer(), rebuild_errors=100)
    proc.stop = SimpleNamespace(wait=lambda seconds: True)
    proc._recover(BATCH)
    assert proc.rebuilds == [0] and proc.consumer.seeks == []


def test_a_partition_revoked_meanwhile_is_not_rebuilt(monkeypatch):
    proc = processor(monkeypatch, FakeProducer())
    proc.states.clear()
    proc._recover(BATCH)
    assert proc.rebuilds == [] and proc.consumer.seeks == []


def test_an_assigned_partition_whose_rebuild_fails_stays_paused_until_it_works(monkeypatch):
    proc = processor(monkeypatch, FakeProducer(), rebuild_errors=1)
    proc.states.clear()
    proc.to_rebuild = {TP}
    proc._rebuild_assigned()  # a broker just died: the read fails
    assert proc.to_rebuild == {TP} and not proc.consumer.resumed and 0 not in proc.states
    proc._rebuild_assigned()  # next step
    assert proc.to_rebuild == set() and proc.consumer.resumed == [TP] and 0 in proc.states


def test_a_transactional_call_that_never_completes_times_out(monkeypatch):
    from kafka.errors import KafkaTimeoutError

    from broker.processor import transactions

    waited = []
    result = SimpleNamespace(wait=lambda timeout_ms: waited.append(timeout_ms) or False)
    producer = SimpleNamespace(_sender=SimpleNamespace(wakeup=lambda: None),
                               _transaction_manager=SimpleNamespace(begin_commit=lambda: result))
    with pytest.raises(KafkaTimeoutError):
        transactions.commit(producer)
    assert waited == [transactions.CALL_SECONDS * 1000]


def test_a_stuck_producer_is_discarded_even_though_close_cannot_flush():
    from kafka.errors import KafkaTimeoutError

    from broker.processor import transactions

    forced = []

    def close(timeout=None):
        raise KafkaTimeoutError("Timeout waiting for future")  # what flush() does when stuck

    producer = SimpleNamespace(_sender=SimpleNamespace(force_close=lambda: forced.append(1)),
                               close=close)
    transactions.discard(producer)
    assert forced == [1]
