"""The wire format did not move when events and commands became msgspec Structs.

Three witnesses: records written by the codec before the change (commit 29f4fc1, every
event and command type, committed as hex) decode and re-encode to the same bytes, except
for the key order of five types (below); every record of a realistic log and every
command its simulation sent encode to the bytes msgpack.packb writes for their plain
maps (`event_to_plain`, which audit.verify re-packs); and the msgpack package reads all
of them back as an independent reader. Then the refusals: free-form values hold JSON
only, and refusals keep the codec's wording and codes.
"""

import json
from pathlib import Path

import msgpack
import pytest

from schemas.codec import (
    command_to_plain,
    decode_command,
    decode_event,
    decode_events,
    encode_command,
    encode_event,
    encode_event_records,
    event_to_plain,
)
from schemas.envelope import CommandEnvelope
from schemas.errors import SchemaError
from schemas.positions import offset_of
from testkit.replay_log import LogMaker
from tests.unit import domain_kit as k
from tests.unit.test_codec import COMMAND_SAMPLES, EVENT_SAMPLES, order, wrap

OLD = json.loads((Path(__file__).parent / "codec_records_29f4fc1.json").read_text())
_HEADER = msgpack.Packer().pack_array_header
# The old encoder wrote a class's fields stored as they are first, then those it
# converted (tuples, nested classes, free-form values); msgspec writes declaration order.
# Where a converted field is followed by a plain one, the keys come in another order:
# the same map, the same length, other bytes. Every reader takes either order.
KEY_ORDER_ONLY = {"TaskPosted", "WorkSubmitted", "TaskSpec", "PostTasks", "ClaimSuite"}


def same_bytes_or_key_order(name: str, new: bytes, old: bytes) -> None:
    if name in KEY_ORDER_ONLY:
        assert new != old and len(new) == len(old)
        assert msgpack.unpackb(new) == msgpack.unpackb(old)
    else:
        assert new == old


def old_record(envs: list) -> bytes:
    """An events record as the codec has always built it: an array of the plain maps."""
    return _HEADER(len(envs)) + b"".join(
        msgpack.packb(event_to_plain(e), use_bin_type=True) for e in envs
    )


@pytest.mark.parametrize("event", EVENT_SAMPLES, ids=lambda e: type(e).__name__)
def test_an_old_event_record_decodes_and_encodes_to_the_same_bytes(event):
    raw = bytes.fromhex(OLD["events"][type(event).__name__])
    assert decode_event(raw) == wrap(event)
    same_bytes_or_key_order(type(event).__name__, encode_event(decode_event(raw)), raw)
    assert msgpack.unpackb(raw)["t"] == type(event).__name__  # the independent reader


@pytest.mark.parametrize("command", COMMAND_SAMPLES, ids=lambda x: type(x).__name__)
def test_an_old_command_record_decodes_and_encodes_to_the_same_bytes(command):
    raw = bytes.fromhex(OLD["commands"][type(command).__name__])
    assert decode_command(raw) == order(command)
    same_bytes_or_key_order(type(command).__name__, encode_command(decode_command(raw)), raw)
    assert msgpack.unpackb(raw)["t"] == type(command).__name__


def test_an_old_events_record_and_a_fingerprinted_command_are_the_same_bytes():
    record = bytes.fromhex(OLD["events_record"])
    assert decode_events(record) == [wrap(e) for e in EVENT_SAMPLES]
    (again,) = encode_event_records(decode_events(record))
    same_bytes_or_key_order("TaskPosted", again, record)
    names = [type(e).__name__ for e in EVENT_SAMPLES if type(e).__name__ not in KEY_ORDER_ONLY]
    old = _HEADER(len(names)) + b"".join(bytes.fromhex(OLD["events"][n]) for n in names)
    assert encode_event_records(decode_events(old)) == [old]
    fingerprinted = bytes.fromhex(OLD["command_with_fingerprint"])
    assert encode_command(decode_command(fingerprinted)) == fingerprinted
    assert msgpack.unpackb(fingerprinted)["fp"] == "f" * 64


class Recording(LogMaker):
    def __init__(self) -> None:
        self.sent_envelopes: list[CommandEnvelope] = []
        super().__init__()

    def push(self, when: int, env: CommandEnvelope) -> None:
        self.sent_envelopes.append(env)
        super().push(when, env)


def test_a_realistic_log_encodes_to_the_bytes_of_its_plain_maps():
    maker = Recording()
    log = maker.make(5_000)
    decisions: dict[tuple[int, int], list] = {}
    for p, pos, env in log:
        decisions.setdefault((p, offset_of(pos)), []).append(env)
    assert {type(env.event).__name__ for _, _, env in log} >= {"TaskPosted", "WorkSubmitted"}
    for envs in decisions.values():
        (record,) = encode_event_records(envs)
        assert record == old_record(envs)
        assert decode_events(record) == envs
        assert len(msgpack.unpackb(record, strict_map_key=True)) == len(envs)
    for env in maker.sent_envelopes:
        raw = encode_command(env)
        assert raw == msgpack.packb(command_to_plain(env), use_bin_type=True)
        assert decode_command(raw) == env
        assert msgpack.unpackb(raw)["id"] == env.command_id


def with_answer(answer: object) -> bytes:
    """A WorkSubmitted record whose answer is `answer`, packed by the msgpack package."""
    plain = event_to_plain(wrap(k.submitted()))
    plain["d"]["answer"] = answer
    return msgpack.packb(plain, use_bin_type=True, datetime=False)


@pytest.mark.parametrize(
    "answer",
    [
        msgpack.ExtType(5, b"x"),
        msgpack.Timestamp(1, 0),
        {"a": [b"binary"]},
        {"ok": {"nested": msgpack.ExtType(1, b"")}},
    ],
    ids=["ext", "timestamp", "binary", "nested-ext"],
)
def test_a_free_form_value_holds_json_only(answer):
    with pytest.raises(SchemaError) as caught:
        decode_event(with_answer(answer))
    assert caught.value.code == "invalid_record"
    assert str(caught.value).startswith("answer")


def test_a_non_string_key_in_a_free_form_value_is_refused():
    with pytest.raises(SchemaError) as caught:
        decode_event(with_answer({1: "one"}))
    assert caught.value.code == "undecodable"  # the msgpack package refuses it too


def test_json_answers_still_decode():
    answer = {"labels": ["cat", 1, 2.5, True, None], "deep": {"x": [[{"y": "z"}]]}}
    assert decode_event(with_answer(answer)).event.answer == answer


@pytest.mark.parametrize(
    ("field", "value", "message", "code"),
    [
        ("amount", "5", "FundsDeposited.amount: expected an integer, got str", "invalid_record"),
        ("amount", True, "FundsDeposited.amount: expected an integer, got bool", "invalid_record"),
        ("amount", -5, "amount must be an integer of micro-units", "invalid_amount"),
        ("currency", "XXX", "currency: unknown currency 'XXX'", "unknown_currency"),
        ("bonus", 1, "FundsDeposited: unknown field(s) ['bonus']", "unknown_field"),
    ],
)
def test_refusals_keep_their_wording_and_code(field, value, message, code):
    plain = event_to_plain(wrap(k.funds()))
    plain["d"][field] = value
    with pytest.raises(SchemaError) as caught:
        decode_event(msgpack.packb(plain, use_bin_type=True))
    assert str(caught.value).startswith(message)
    assert caught.value.code == code


def test_a_missing_field_and_a_bad_envelope_keep_their_wording():
    plain = event_to_plain(wrap(k.funds()))
    del plain["d"]["currency"]
    with pytest.raises(SchemaError, match="FundsDeposited: missing field 'currency'"):
        decode_event(msgpack.packb(plain, use_bin_type=True))
    plain = {**event_to_plain(wrap(k.funds())), "seq": "3"}
    with pytest.raises(SchemaError, match="envelope field 'seq' missing or not int"):
        decode_events(msgpack.packb([plain], use_bin_type=True))


def test_a_nested_rule_names_its_place():
    spec = {"kind": "survey", "reward": 1, "currency": "EUR", "estimated_seconds": 60}
    plain = command_to_plain(order(COMMAND_SAMPLES[2]))
    plain["d"]["tasks"] = [spec]  # neither payload nor payload_ref: TaskSpec's own rule
    with pytest.raises(SchemaError) as caught:
        decode_command(msgpack.packb(plain, use_bin_type=True))
    assert str(caught.value) == "PostTasks.tasks[0]: a task needs a payload or a payload_ref"


def _command_with(command: object, path: tuple, value: object) -> bytes:
    """`command`'s record with the free-form value at `path` (keys and indexes of its
    plain body) replaced, packed by the msgpack package."""
    plain = command_to_plain(CommandEnvelope("c1", k.R, "requester", "c1", command))
    holder = plain["d"]
    for part in path[:-1]:
        holder = holder[part]
    holder[path[-1]] = value
    return msgpack.packb(plain, use_bin_type=True, datetime=False)


@pytest.mark.parametrize(
    ("sample", "path", "named"),
    [
        (2, ("tasks", 1, "payload"), "tasks[1].payload"),  # PostTasks: a spec's payload
        (12, ("items", 0, "answer"), "items[0].answer"),  # SubmitSuite: an item's answer
    ],
)
def test_free_form_values_nested_in_a_command_are_checked_on_decoding(sample, path, named):
    command = COMMAND_SAMPLES[sample]
    assert decode_command(_command_with(command, path, {"ok": [1, "x"]})).command != command
    with pytest.raises(SchemaError) as caught:
        decode_command(_command_with(command, path, {"ok": msgpack.ExtType(3, b"")}))
    assert str(caught.value) == f"{named}.ok: a ExtType is not a JSON value"
    assert caught.value.code == "invalid_record"
