"""json_input: request bodies to plain JSON values within the limits the log can carry."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.api.json_input import (
    INT_MAX,
    INT_MIN,
    InputError,
    check_encoded_size,
    check_media_type,
    parse,
    render,
)
from schemas.limits import MAX_ANSWER_BYTES, MAX_JSON_DEPTH, MAX_PAYLOAD_BYTES


def refused(raw: bytes) -> InputError:
    with pytest.raises(InputError) as caught:
        parse(raw)
    assert caught.value.status == 400
    return caught.value


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_plain_json_comes_back_as_it_is() -> None:
    body = {"answer": {"text": "héllo 😀", "n": [INT_MIN, INT_MAX, 1.5, True, None]}}
    assert parse(json.dumps(body).encode()) == body
    assert parse(json.dumps(body, ensure_ascii=False).encode()) == body
    assert parse(b'"\\ud83d\\ude00"') == "😀"  # an escaped surrogate *pair* is one character


def test_an_empty_body_is_none() -> None:
    assert parse(b"") is None


@pytest.mark.parametrize(("raw", "code", "where"), [
    (b'{"answer": {"items": [1, 2, 3, 9223372036854775808]}}', "number_out_of_range",
     "answer.items[3]"),
    (b'{"a": -9223372036854775809}', "number_out_of_range", "a"),
    (b'{"a": ' + b"9" * 5000 + b"}", "number_out_of_range", "body"),
    (b'{"a": {"b c": ["\\ud800"]}}', "invalid_string", 'a["b c"][0]'),
    (b'["ok", "x\\udfffy"]', "invalid_string", "[1]"),
    (b'{"\\udc00": 1}', "invalid_string", '["\\udc00"]'),
    (b'{"a": 1e400}', "number_out_of_range", "a"),
    (b'{"a": NaN}', "malformed_json", "body"),
    (b'[-Infinity]', "malformed_json", "body"),
])  # fmt: skip
def test_values_msgpack_cannot_carry_are_refused_naming_their_path(
        raw: bytes, code: str, where: str) -> None:  # fmt: skip
    error = refused(raw)
    assert error.code == code
    assert error.message.startswith(f"{where}: "), error.message


@pytest.mark.parametrize("raw", [
    b"\xff", b'{"a": "\xc3("}', b'"\xed\xa0\x80"', b"\xef\xbb\xbf{}", b"{", b"{'a': 1}",
    b"[1,]", b'{"a":1}{"b":2}', b"\x00\x7b\x00\x7d",  # the last: UTF-16, not UTF-8
])  # fmt: skip
def test_what_is_not_utf8_json_is_malformed(raw: bytes) -> None:
    assert refused(raw).code == "malformed_json"


def test_nesting_is_bounded_at_max_json_depth() -> None:
    assert parse(nested(MAX_JSON_DEPTH)) is not None
    for depth in (MAX_JSON_DEPTH + 1, 600, 100_000):  # past msgpack's 511, past recursion
        assert refused(nested(depth)).code == "json_too_deep"
    deep_object = b'{"a": ' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1)
    assert refused(deep_object).code == "json_too_deep"


def test_render_names_paths_as_a_client_writes_them() -> None:
    assert render([]) == "body"
    assert render(["answer", "items", 3]) == "answer.items[3]"
    assert render([0, "é", "a-b"]) == '[0]["\\u00e9"]["a-b"]'


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(INT_MIN, INT_MAX)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_whatever_parse_accepts_msgpack_encodes(value: Any) -> None:
    """The point of the module: a body that gets through can always be written to the log
    (msgpack refuses lone surrogates, ints past 64 bits, nesting past 511)."""
    raw = json.dumps(value).encode()
    try:
        parsed = parse(raw)
    except InputError as exc:
        assert exc.code == "invalid_string" or depth(value) > MAX_JSON_DEPTH, exc.message
        return
    assert msgpack.unpackb(msgpack.packb(parsed), strict_map_key=False) == parsed


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_parse_or_raise_input_error(raw: bytes) -> None:
    try:
        msgpack.packb(parse(raw))
    except InputError as exc:
        assert exc.status == 400 and exc.code and exc.message


def test_field_sizes_are_measured_msgpack_encoded() -> None:
    assert MAX_PAYLOAD_BYTES == 16 * 1024 and MAX_ANSWER_BYTES == 256 * 1024
    fits = "x" * (MAX_ANSWER_BYTES - 5)  # str 32: a 5-byte header
    assert check_encoded_size("answer", fits, MAX_ANSWER_BYTES, "answer_too_large") == \
        MAX_ANSWER_BYTES
    with pytest.raises(InputError) as caught:
        check_encoded_size("answer", fits + "x", MAX_ANSWER_BYTES, "answer_too_large")
    assert (caught.value.status, caught.value.code) == (413, "answer_too_large")
    assert "answer" in caught.value.message and str(MAX_ANSWER_BYTES) in caught.value.message
    with pytest.raises(InputError) as caught:
        check_encoded_size("tasks[0].payload", 2**64, MAX_PAYLOAD_BYTES, "payload_too_large")
    assert (caught.value.status, caught.value.code) == (400, "unencodable")


@pytest.mark.parametrize("header", [
    None, "", "application/json", "Application/JSON; charset=UTF-8",
    'application/json;charset="utf8"',
    "application/merge-patch+json", "application/vnd.piecework+json; charset=utf-8",
])  # fmt: skip
def test_json_media_types_are_accepted(header: str | None) -> None:
    check_media_type(header)


@pytest.mark.parametrize("header", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/json; charset=latin-1", "application/jsonx", "+json", "/+json", "*/*",
    "json", "\udcff\udcfe",
])  # fmt: skip
def test_other_media_types_are_415(header: str) -> None:
    with pytest.raises(InputError) as caught:
        check_media_type(header)
    assert (caught.value.status, caught.value.code) == (415, "unsupported_media_type")
    json.dumps(caught.value.message).encode("utf-8")  # the message itself is always sendable
