"""The processor's two Kafka clients read failures the same way (broker.processor.kafka_port).

The processor decides what to do from KafkaCallError's kind and from `refusal`: each
client's errors must map onto them alike, or one client would retry what the other
refuses, or replace a producer the other aborts.
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest
from confluent_kafka import KafkaError, KafkaException
from kafka import errors as kp
from kafka.future import Future

from broker.processor import kafka_port, port_confluent, port_kafka_python
from runtime.settings import Settings, SettingsError


def _public(cls: type) -> set[str]:
    return {n for n, v in vars(cls).items() if callable(v) and not n.startswith("_")}


@pytest.mark.parametrize("side", ["Consumer", "Producer"])
def test_both_clients_offer_every_method_of_the_port(side):
    protocol = {"Consumer": kafka_port.CommandConsumer,
                "Producer": kafka_port.TransactionalProducer}[side]  # fmt: skip
    wanted = _public(protocol)
    for module in (port_kafka_python, port_confluent):
        cls = getattr(module, side)
        assert wanted <= _public(cls), (module.__name__, wanted - _public(cls))
        for name in wanted:
            ours = list(inspect.signature(getattr(cls, name)).parameters)
            assert ours == list(inspect.signature(getattr(protocol, name)).parameters), name


def test_kafka_python_errors_map_onto_the_port():
    fenced = port_kafka_python.call_error(kp.ProducerFencedError())
    timed_out = port_kafka_python.call_error(kp.KafkaTimeoutError("commit still pending"))
    transient = port_kafka_python.call_error(kp.KafkaConnectionError("gone"))
    assert (fenced.fenced, fenced.stuck) == (True, False)
    assert (timed_out.fenced, timed_out.stuck) == (False, True)
    assert (transient.fenced, transient.stuck) == (False, False)


def test_kafka_python_names_only_a_refusal_for_good():
    producer = object.__new__(port_kafka_python.Producer)
    too_large, gone = Future(), Future()
    too_large.failure(kp.MessageSizeTooLargeError())
    gone.failure(kp.KafkaConnectionError("gone"))
    assert "MessageSizeTooLarge" in producer.refusal(too_large)
    assert producer.refusal(gone) is None
    assert producer.refusal(Future()) is None  # still pending
    assert producer.refusal(Future().success(1)) is None


def _raised(code: int, **kinds: bool) -> KafkaException:
    return KafkaException(KafkaError(code, "from the test", **kinds))


@pytest.mark.parametrize(("code", "kinds", "fenced", "stuck"), [
    (KafkaError._FENCED, {"fatal": True}, True, False),
    (KafkaError.PRODUCER_FENCED, {"fatal": True}, True, False),
    (KafkaError.INVALID_PRODUCER_EPOCH, {"txn_requires_abort": True}, True, False),
    (KafkaError._TIMED_OUT, {"retriable": True}, False, True),
    (KafkaError._INCONSISTENT, {"fatal": True}, False, True),
    (KafkaError._TRANSPORT, {"txn_requires_abort": True}, False, False),
    (KafkaError.NOT_LEADER_FOR_PARTITION, {"retriable": True}, False, False),
])  # fmt: skip
def test_librdkafka_errors_map_onto_the_port(code, kinds, fenced, stuck):
    found = port_confluent.call_error(_raised(code, **kinds), "commit_transaction")
    assert (found.fenced, found.stuck) == (fenced, stuck)
    assert "commit_transaction" in str(found)


def test_librdkafka_names_only_a_refusal_for_good():
    producer = object.__new__(port_confluent.Producer)
    producer.settled = False
    refused = port_confluent._Delivery(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), done=True)
    assert "MSG_SIZE_TOO_LARGE" in producer.refusal(refused)
    transient = port_confluent._Delivery(KafkaError(KafkaError._TRANSPORT), done=True)
    assert producer.refusal(transient) is None
    assert producer.refusal(port_confluent._Delivery(done=True)) is None


def test_librdkafka_delivery_reports_are_waited_for_once_before_a_refusal_is_read():
    """The transaction fails as soon as the broker refused the record, before its delivery
    report was served: seen as two aborts for one refused command."""
    producer = object.__new__(port_confluent.Producer)
    producer.settled = False
    late = port_confluent._Delivery()
    flushed = []

    def flush(timeout):
        flushed.append(timeout)
        late(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), None)
        return 0

    producer.producer = SimpleNamespace(flush=flush)
    assert "MSG_SIZE_TOO_LARGE" in producer.refusal(late)
    assert producer.refusal(port_confluent._Delivery()) is None  # still pending: once only
    assert flushed == [port_confluent.SETTLE_SECONDS]


def test_librdkafka_refusing_a_record_locally_fails_the_transaction():
    """librdkafka refuses a record over its own limit in produce(), which leaves the
    transaction committable: the port must fail the commit, or the decision is torn."""
    producer = object.__new__(port_confluent.Producer)
    committed = []

    def produce(*args, **kwargs):
        raise _raised(KafkaError.MSG_SIZE_TOO_LARGE)

    producer.producer = SimpleNamespace(produce=produce, begin_transaction=lambda: None,
                                        commit_transaction=committed.append)  # fmt: skip
    producer.begin()
    handle = producer.send("t.events", b"x", b"k", 0)
    assert "MSG_SIZE_TOO_LARGE" in producer.refusal(handle)
    with pytest.raises(kafka_port.KafkaCallError):
        producer.commit()
    assert committed == []


def test_librdkafka_a_call_that_hangs_past_its_timeout_makes_the_producer_stuck():
    """send_offsets_to_transaction hung for 10 minutes with a 20 s timeout after a broker
    restart (librdkafka #5456): the processor must get its thread back and replace it."""
    import threading

    caller = port_confluent._Caller("test-calls")
    release = threading.Event()
    with pytest.raises(kafka_port.KafkaCallError) as raised:
        caller.call("send_offsets_to_transaction", 0.2, release.wait)
    assert raised.value.stuck and "still pending" in str(raised.value)
    release.set()
    with pytest.raises(kafka_port.KafkaCallError) as failed:
        caller.call("commit_transaction", 5, lambda: (_ for _ in ()).throw(
            _raised(KafkaError.PRODUCER_FENCED, fatal=True)))
    assert failed.value.fenced
    caller.call("abort_transaction", 5, lambda: None)  # and it answers
    caller.stop()


class _Message:
    def __init__(self, partition: int, offset: int) -> None:
        self._p, self._o = partition, offset

    def error(self):
        return None

    def partition(self):
        return self._p

    def offset(self):
        return self._o

    def topic(self):
        return "t.commands"

    def key(self):
        return b"k"

    def value(self):
        return b"v"

    def headers(self):
        return None


def test_librdkafka_no_records_is_an_empty_batch():
    consumer = object.__new__(port_confluent.Consumer)
    consumer.consumer = SimpleNamespace(poll=lambda timeout: None)
    assert consumer.poll(200) == {}


def test_librdkafka_records_of_a_paused_partition_are_read_again_on_resume():
    consumer = object.__new__(port_confluent.Consumer)
    consumer.topic, consumer.owned, consumer.paused, consumer.rewind = "t.commands", {0, 1}, {1}, {}
    seeks, resumed = [], []
    fetched = [_Message(0, 5), _Message(1, 7), _Message(1, 8), _Message(2, 3)]
    asked = []
    consumer.consumer = SimpleNamespace(
        poll=lambda timeout: fetched[0],
        consume=lambda n, timeout: asked.append((n, timeout)) or fetched[1:],
        resume=resumed.extend, seek=seeks.append)  # fmt: skip
    batch = consumer.poll(200)
    assert {p: [r.offset for r in rs] for p, rs in batch.items()} == {0: [5]}  # 2: not ours
    assert asked == [(kafka_port.MAX_POLL_RECORDS - 1, 0)]  # what is there, without waiting
    consumer.resume(1)
    assert [(tp.partition, tp.offset) for tp in seeks] == [(1, 7)]
    assert consumer.paused == set() and consumer.rewind == {}


def test_the_client_is_a_setting():
    assert Settings().processor_client == "confluent-kafka"
    chosen = Settings.from_env({"PIECEWORK_PROCESSOR_CLIENT": "kafka-python"})
    assert chosen.processor_client == "kafka-python"
    with pytest.raises(SettingsError, match="PIECEWORK_PROCESSOR_CLIENT"):
        Settings.from_env({"PIECEWORK_PROCESSOR_CLIENT": "librdkafka"})
    assert kafka_port.CLIENTS == ("kafka-python", "confluent-kafka")
