"""A decision the log cannot take is refused before anything is applied or sent."""

import msgpack
import pytest

from broker.processor.writable import Unwritable, encode_decision
from schemas.codec import decode_events, decode_reply
from schemas.commands import SubmitWork
from schemas.limits import MAX_RECORD_BYTES
from tests.unit import domain_kit as k


def submit(answer: object) -> object:
    shard = k.given(k.open_task(), k.claimed())
    return k.when(shard, SubmitWork(k.TASK, k.claim_id(), k.W, answer), k.worker())


def test_a_writable_decision_is_encoded_as_it_will_be_sent():
    decision = submit({"text": "Hello"})
    encoded = encode_decision(decision)
    assert [e for raw in encoded.events for e in decode_events(raw)] == list(decision.events)
    assert decode_reply(encoded.reply) == decision.reply


def test_an_answer_whose_event_is_over_the_record_limit_is_too_large():
    # The command itself fits (it is under the limit); the event around the answer does not.
    answer = "x" * (MAX_RECORD_BYTES - 200)
    with pytest.raises(Unwritable) as caught:
        encode_decision(submit(answer))
    assert caught.value.code == "too_large"
    assert str(MAX_RECORD_BYTES) in caught.value.message


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("answer", [2**64, -(2**63) - 1, "\ud800", nested(5000)])
def test_what_msgpack_cannot_encode_is_unencodable(answer):
    with pytest.raises(Unwritable) as caught:
        encode_decision(submit(answer))
    assert caught.value.code == "unencodable"


def test_nesting_past_the_msgpack_packers_limit_is_written_and_read_back():
    # msgspec writes deeper than the msgpack package's packer (511 levels), and both it
    # and the msgpack package read it back (the API refuses bodies past MAX_JSON_DEPTH).
    decision = submit(nested(600))
    encoded = encode_decision(decision)
    assert [e for raw in encoded.events for e in decode_events(raw)] == list(decision.events)
    assert all(msgpack.unpackb(raw) for raw in encoded.events)


def test_the_limit_is_a_parameter():
    with pytest.raises(Unwritable):
        encode_decision(submit({"text": "Hello"}), limit=100)
