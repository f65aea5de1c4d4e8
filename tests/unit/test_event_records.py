"""One events record per decision: its events in order, split only past the bounds."""


import msgpack
import pytest

from schemas import codec
from schemas.codec import (
    decode_events,
    decode_positioned,
    encode_event,
    encode_event_records,
    event_to_plain,
)
from schemas.envelope import EventEnvelope
from schemas.errors import SchemaError
from schemas.positions import MAX_INDEX, describe, index_of, offset_of, position
from tests.unit import domain_kit as k


def decision(n: int) -> list[EventEnvelope]:
    def posted(i: int) -> EventEnvelope:
        task = f"{k.R}:b1:{i}"
        return EventEnvelope(f"cmd-1/{i}", f"task:{task}", 1, k.T0, "cmd-1", "corr", "cmd-1",
                             k.R, k.task_posted(task_id=task))  # fmt: skip

    return [posted(i) for i in range(n)]


def test_a_decision_is_one_record_holding_its_events_in_order():
    events = decision(500)
    (record,) = encode_event_records(events)
    assert decode_events(record) == events
    assert [pos for _, pos, _ in decode_positioned(3, 41, record)] == [
        position(41, i) for i in range(500)
    ]


def test_no_events_no_record():
    assert encode_event_records([]) == []


def test_a_lone_event_map_still_decodes_as_one_event():
    (event,) = decision(1)
    assert decode_events(encode_event(event)) == [event]


def test_records_split_at_the_event_and_byte_bounds(monkeypatch):
    events = decision(10)
    monkeypatch.setattr(codec, "MAX_EVENTS_PER_RECORD", 4)
    records = encode_event_records(events)
    assert [len(decode_events(r)) for r in records] == [4, 4, 2]
    monkeypatch.setattr(codec, "MAX_EVENTS_PER_RECORD", 4096)
    monkeypatch.setattr(codec, "MAX_RECORD_BYTES", 3 * len(encode_event(events[0])))
    records = encode_event_records(events)
    assert all(len(r) <= 3 * len(encode_event(events[0])) + 5 for r in records)
    assert [e for r in records for e in decode_events(r)] == events


@pytest.mark.parametrize(
    "value",
    [
        msgpack.packb([]),
        msgpack.packb([1, 2]),
        msgpack.packb("text"),
        b"\xc1garbage",
    ],
    ids=["empty list", "list of ints", "string", "not msgpack"],
)
def test_bad_records_are_refused_whole(value):
    with pytest.raises(SchemaError):
        decode_events(value)


def test_one_invalid_event_refuses_the_whole_record():
    good, bad = decision(2)
    broken = event_to_plain(bad)
    broken["t"] = "NoSuchEvent"
    raw = msgpack.packb([event_to_plain(good), broken], use_bin_type=True)
    with pytest.raises(SchemaError) as caught:
        decode_events(raw)
    assert caught.value.code == "unknown_type"


def test_positions_sort_like_offset_then_index():
    pairs = [(7, 0), (6, MAX_INDEX), (7, 3), (0, 1)]
    assert sorted(pairs) == sorted(pairs, key=lambda p: position(*p))
    pos = position(1_234_567, 89)
    assert (offset_of(pos), index_of(pos)) == (1_234_567, 89)
    assert describe(2, pos) == "2/1234567#89"
    with pytest.raises(ValueError):
        position(1, MAX_INDEX + 1)
