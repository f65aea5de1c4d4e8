"""The client's Server-Sent Events reader: events out of chunks split anywhere."""

from __future__ import annotations

import json

import pytest

from broker.client_events import RecentIds, type_list
from broker.client_http import with_query
from broker.sse import SseDecoder, SseEvent

ITEM = {"cursor": "v1.a.-", "id": "e1", "type": "BatchPosted", "at": 1, "data": {"k": "é"}}
STREAM = (
    ": ping\n\n"
    f"id: v1.a.-\nevent: BatchPosted\ndata: {json.dumps(ITEM, ensure_ascii=False)}\n\n"
    "retry: 2500\n"
    "data: first line\ndata:second line\n\n"
    ": ping\n"
    "id: v1.b.3\nevent: SubmissionApproved\ndata: {}\n\n"
)
EXPECTED = [
    SseEvent("v1.a.-", "BatchPosted", json.dumps(ITEM, ensure_ascii=False)),
    SseEvent("v1.a.-", "message", "first line\nsecond line"),  # the last id carries over
    SseEvent("v1.b.3", "SubmissionApproved", "{}"),
]


def decode(chunks: list[bytes]) -> tuple[list[SseEvent], SseDecoder]:
    decoder = SseDecoder()
    return [event for chunk in chunks for event in decoder.feed(chunk)], decoder


def test_a_stream_in_one_chunk():
    events, decoder = decode([STREAM.encode()])
    assert events == EXPECTED
    assert json.loads(events[0].data) == ITEM
    assert (decoder.last_id, decoder.retry_ms) == ("v1.b.3", 2500)


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\n"])
def test_split_at_every_byte_with_any_line_break(newline: str):
    # byte by byte: through the UTF-8 of "é" and between the CR and LF of a CRLF
    raw = STREAM.replace("\n", newline).encode()
    assert decode([raw[i : i + 1] for i in range(len(raw))])[0] == EXPECTED


def test_every_two_way_split_gives_the_same_events():
    raw = STREAM.replace("\n", "\r\n").encode()
    for cut in range(len(raw) + 1):
        assert decode([raw[:cut], raw[cut:]])[0] == EXPECTED, cut


def test_an_event_is_dispatched_only_at_its_blank_line():
    decoder = SseDecoder()
    assert decoder.feed(b"id: c1\ndata: {}\n") == []
    assert decoder.feed(b"\n") == [SseEvent("c1", "message", "{}")]


def test_a_block_without_data_is_no_event_but_its_id_counts():
    events, decoder = decode([b"id: c7\nevent: x\n\n: ping\n\n"])
    assert events == [] and decoder.last_id == "c7"


def test_odd_fields_are_read_by_the_rules():
    raw = b"\xef\xbb\xbfdata\ndata:  two spaces\nfoo: bar\nretry: soon\nid: a\x00b\n\n"
    events, decoder = decode([raw])
    assert events == [SseEvent("", "message", "\n two spaces")]  # BOM dropped, one space eaten
    assert decoder.retry_ms is None and decoder.last_id == ""  # "soon" and a NUL id ignored


def test_an_unfinished_event_at_the_end_is_not_dispatched():
    assert decode([b"id: c1\ndata: {}"])[0] == []


def test_recent_ids_drop_repeats_within_memory():
    seen = RecentIds(size=2)
    assert [seen.first_time(i) for i in ("a", "b", "a", "c")] == [True, True, False, True]
    assert seen.first_time("a")  # forgotten: only the last 2 are remembered


def test_query_helpers():
    assert type_list(["BatchPosted", "PayoutIssued"]) == "BatchPosted,PayoutIssued"
    assert type_list("a,b") == "a,b" and type_list(None) is None
    assert with_query("/v1/events", {"after": None, "limit": 5}) == "/v1/events?limit=5"
    assert with_query("/v1/events", {"after": None}) == "/v1/events"
