"""Request bodies to plain JSON values that the log can always carry.

Everything a client sends ends up msgpack-encoded in a Kafka record. msgpack refuses
what JSON allows (integers past 64 bits, strings with lone surrogates, nesting past 511
levels), and the stdlib parser itself escapes with RecursionError on very deep input: left
alone, each of these surfaced as a 500 deep in the handler. Here they are refused at the
door with a 400 that names the JSON path of the offending value, e.g.
"answer.items[3]: integer out of the signed 64-bit range".

Why the stdlib parser and a walk, not orjson: orjson rejects lone surrogates and NaN by
itself, but takes unsigned 64-bit integers and up to 1,023 levels, and its errors name a
character offset, not a path: the walk below would be needed anyway, and one more
dependency would buy a faster parse only. The walk costs about what json.loads does:
1.1 ms each on a 500-task batch (146 KB), next to 3.1 ms for building its dataclasses.

Pure: no aiohttp, no I/O. Errors are InputError (status, code, message), which the API's
guard answers as its JSON error form.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import msgpack

from schemas.limits import MAX_JSON_DEPTH

# msgpack's integer range is [-2**63, 2**64 - 1]; the signed half of it is what every
# consumer of the log (Redis' Lua numbers aside) reads back without surprise.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


class InputError(Exception):
    """A refused input: HTTP status, machine-readable code, a message naming where.

    Not a ValueError on purpose: raised inside a body's __post_init__, it passes through
    schemas.fields.from_plain untouched instead of becoming a generic 422.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _Bad(Exception):
    """A value refused during the walk; the path is collected while unwinding."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason
        self.path: list[str | int] = []


def parse(raw: bytes) -> Any:
    """The JSON value of `raw` (UTF-8), checked against the limits above; an empty body is
    None. Raises InputError(400, ...) for anything else."""
    if not raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(400, "malformed_json",
                         f"body is not UTF-8: invalid byte at offset {exc.start}") from None
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except _Bad as bad:
        raise InputError(400, bad.code, f"body: {bad.reason}") from None
    except RecursionError:
        raise InputError(400, "json_too_deep",
                         f"body: nested deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise InputError(400, "malformed_json", f"body is not JSON: {exc}") from None
    except ValueError:  # int(): more digits than Python converts (sys.get_int_max_str_digits)
        raise InputError(400, "number_out_of_range",
                         "body: integer out of the signed 64-bit range") from None
    try:
        _check(value, 1)
    except _Bad as bad:
        raise InputError(400, bad.code, f"{render(bad.path)}: {bad.reason}") from None
    return value


def check_media_type(content_type: str | None) -> None:
    """InputError 415 unless the Content-Type header is JSON (application/json or any
    type/subtype+json) in UTF-8. None or empty (curl -d without -H) is taken as JSON."""
    if not content_type:
        return
    media, *params = content_type.split(";")
    media = media.strip().lower()
    kind, slash, subtype = media.partition("/")
    is_json = media == "application/json" or (bool(kind) and subtype.endswith("+json"))
    if not (slash and is_json):
        raise InputError(415, "unsupported_media_type", "the body must be application/json,"
                                                        f" not {media[:60]!r}")  # fmt: skip
    for param in params:
        name, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise InputError(415, "unsupported_media_type",
                             f"JSON bodies are UTF-8, not charset {charset[:40]!r}")


def encoded_size(value: Any) -> int:
    """Bytes of `value` msgpack-encoded, as the log stores it."""
    return len(msgpack.packb(value))


def check_encoded_size(where: str, value: Any, limit: int, code: str) -> int:
    """The encoded size of the free-form field `where`; InputError 413 past `limit`, 400 if
    msgpack cannot encode it at all (only for a value that did not come through parse)."""
    try:
        size = encoded_size(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(400, "unencodable", f"{where} cannot be encoded: {exc}") from None
    if size > limit:
        raise InputError(413, code, f"{where} is {size} bytes msgpack-encoded;"
                                    f" the limit is {limit}")  # fmt: skip
    return size


def render(path: list[str | int]) -> str:
    """`path` (outermost first) as text: answer.items[3], ["odd key"], or body for []."""
    out = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part.isidentifier() and part.isascii():
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{json.dumps(part)}]")  # ensure_ascii: a lone surrogate as \ud800
    return "".join(out) or "body"


def _no_constant(name: str) -> Any:
    raise _Bad("malformed_json", f"{name} is not JSON")


def _bad_str(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def _check(value: Any, depth: int) -> None:
    """Raise _Bad for the first value past a limit. The leaf checks are inlined in both
    loops (a function call per value would double the cost); recursion is bounded by
    MAX_JSON_DEPTH, checked before descending."""
    kind = type(value)
    if kind is dict or kind is list:
        if depth > MAX_JSON_DEPTH:
            raise _Bad("json_too_deep", f"nested deeper than {MAX_JSON_DEPTH} levels")
        if kind is dict:
            _check_dict(value, depth)
        else:
            _check_list(value, depth)
    else:
        _check_leaf(value)


def _check_leaf(value: Any) -> None:
    kind = type(value)
    if kind is str:
        if _bad_str(value):
            raise _Bad("invalid_string", "string with a lone surrogate (not valid Unicode)")
    elif kind is int:
        if not INT_MIN <= value <= INT_MAX:
            raise _Bad("number_out_of_range", "integer out of the signed 64-bit range")
    elif kind is float and not math.isfinite(value):
        raise _Bad("number_out_of_range", "number too large for a 64-bit float")


def _check_dict(value: dict[str, Any], depth: int) -> None:
    key = None
    try:
        for key, item in value.items():
            if not key.isascii() and _bad_str(key):
                raise _Bad("invalid_string", "key with a lone surrogate (not valid Unicode)")
            kind = type(item)
            if kind is str:
                if not item.isascii():
                    _check_leaf(item)
            elif kind is int:
                if not INT_MIN <= item <= INT_MAX:
                    _check_leaf(item)
            elif kind is dict or kind is list or kind is float:
                _check(item, depth + 1)
    except _Bad as bad:
        bad.path.insert(0, key)
        raise


def _check_list(value: list[Any], depth: int) -> None:
    i = 0
    try:
        for i, item in enumerate(value):  # noqa: B007 (the except below reads i)
            kind = type(item)
            if kind is str:
                if not item.isascii():
                    _check_leaf(item)
            elif kind is int:
                if not INT_MIN <= item <= INT_MAX:
                    _check_leaf(item)
            elif kind is dict or kind is list or kind is float:
                _check(item, depth + 1)
    except _Bad as bad:
        bad.path.insert(0, i)
        raise
