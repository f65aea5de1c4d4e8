"""Every malformed input gets a 4xx JSON {code, message}, never a 500 (issue 11).

One stack for the module. Requests go through a raw socket, so nothing is cleaned up on
the way: non-UTF-8 header bytes, lone surrogates, invalid request lines. Properties run
over every route of the OpenAPI route table, then one explicit case per class of hostile
input; the last test checks the API still works end to end and logged no traceback.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import socket
import time
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.api.app import HANDLER_MODULES  # importing the handlers fills ROUTES
from broker.api.routes import ROUTES, Route
from broker.client import Client
from schemas.fields import fields_of, is_model
from schemas.limits import MAX_ANSWER_BYTES, MAX_JSON_DEPTH
from testkit.stack_processes import Stack, probe
from tests.faults.roles import fault_stack

MAX_BODY = 4 * 1024 * 1024
STACK_ENV = {"PIECEWORK_MAX_BODY_BYTES": str(MAX_BODY), "PIECEWORK_RATE_LIMIT": "100000",
             "PIECEWORK_RATE_BURST": "100000"}  # fmt: skip
SPEC = {"kind": "survey", "reward": 500_000, "currency": "EUR", "estimated_seconds": 60,
        "payload": {"q": "hostile"}}
HEADER_LIMITS = {b"Authorization": 512, b"Idempotency-Key": 100, b"X-Correlation-Id": 100}
BODY_ROUTES = [r for r in ROUTES if r.body is not None]
PATH_ROUTES = [r for r in ROUTES if "{" in r.path]
PROPERTY = settings(max_examples=200, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))  # fmt: skip


@dataclass
class World:
    stack: Stack
    tokens: dict[str, str] = field(default_factory=dict)  # role or name -> token
    ids: dict[str, str] = field(default_factory=dict)  # path parameter -> a real value


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw(url: str, data: bytes, timeout: float = 60) -> Answer:
    """Send `data` as it is and read the answer until the server closes the connection."""
    parts = urlsplit(url)
    chunks = []
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(data)
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0].startswith(b"HTTP/1."), f"no HTTP answer: {head[:200]!r}"
    headers = {}
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    return Answer(int(lines[0].split()[1]), headers, body)


def _unchunk(data: bytes) -> bytes:
    out = []
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(data[:size])
        data = data[size + 2:]
    return b"".join(out)


def request(method: str, path: bytes | str, headers: list[tuple[bytes, bytes]] = (),
            body: bytes = b"", content_type: bytes | None = b"application/json") -> bytes:
    """An HTTP/1.1 request, byte for byte; `headers` go out exactly as given."""
    path = path.encode() if isinstance(path, str) else path
    lines = [method.encode() + b" " + path + b" HTTP/1.1", b"Host: 127.0.0.1",
             b"Connection: close", b"Content-Length: %d" % len(body)]
    if content_type is not None and body:
        lines.append(b"Content-Type: " + content_type)
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def bearer(token: str) -> tuple[bytes, bytes]:
    return (b"Authorization", f"Bearer {token}".encode())


def assert_refused(answer: Answer, *statuses: int) -> dict[str, Any]:
    """A 4xx (or one of `statuses`) in the API's JSON error form."""
    ok = answer.status in statuses if statuses else 400 <= answer.status <= 499
    assert ok, f"{answer.status}: {answer.body[:300]!r}"
    assert answer.headers.get("content-type", "").startswith("application/json"), answer
    payload = answer.json()
    assert isinstance(payload, dict), payload
    assert isinstance(payload.get("code"), str) and isinstance(payload.get("message"), str)
    return payload


def assert_serves(world: World) -> None:
    """The API still answers, and a token still works."""
    world.stack.assert_alive()
    assert raw(world.stack.url, request("GET", "/healthz")).status == 200
    answer = raw(world.stack.url, request("GET", "/v1/ledger", [bearer(world.tokens["requester"])]))
    assert answer.status == 200, answer


# --- the world: actors and a task, a live claim and a submission to aim at -----------------


async def _setup(world: World) -> None:
    url, op_token = world.stack.url, world.stack.operator_token
    world.tokens["operator"] = op_token
    async with Client(url, op_token) as operator:
        world.tokens["requester"] = await operator.create_actor("hreq", "requester")
        world.tokens["worker"] = await operator.create_actor("hwrk", "worker")
        await operator.create_actor("hvictim", "worker")  # the actor path parameters name
    async with Client(url, world.tokens["requester"]) as requester, \
            Client(url, world.tokens["worker"]) as worker:
        await requester.deposit(100_000_000, "EUR")
        tasks = (await requester.post_batch("hostile", [SPEC] * 4))["task_ids"]
        claims = [(await worker.claim(t))["claim_id"] for t in tasks]
        submitted = (await worker.submit(claims[0], "done"))["submission_id"]
    world.ids.update(task_id=tasks[1], claim_id=claims[1], submission_id=submitted,
                     role="worker", actor_id="hvictim", token_id="0" * 16,
                     answer_claim=claims[2], near_claim=claims[3])


@pytest.fixture(scope="module")
def world(kafka_bootstrap, redis_url, tmp_path_factory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("hostile")
    with fault_stack(kafka_bootstrap, redis_url, workdir, extra_env=STACK_ENV) as stack:
        probe(stack)
        found = World(stack)
        asyncio.run(_setup(found))
        yield found


def _path(route: Route, ids: dict[str, str], **override: str) -> str:
    names = re.findall(r"{(\w+)}", route.path)
    return route.path.format(**{n: override.get(n, ids.get(n, "x")) for n in names})


def _token(world: World, route: Route) -> list[tuple[bytes, bytes]]:
    return [bearer(world.tokens[route.roles[0]])] if route.roles else []


# --- hostile bodies ----------------------------------------------------------------------


def _placeholder(annotation: Any) -> Any:
    """A value of the annotated type (not necessarily valid): the base each hostile body
    changes one thing of."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is int:
        return 1
    if annotation is bool:
        return False
    if annotation is str:
        return "x"
    if origin is tuple:
        return []
    if type(None) in args:
        return None
    if isinstance(annotation, type) and is_model(annotation):
        return _base(annotation)
    return "x"  # object: free-form


def _base(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: _placeholder(hints[f.name]) for f in fields_of(cls)}


def _nested(depth: int, leaf: Any = 0) -> Any:
    for i in range(depth):
        leaf = [leaf] if i % 2 else {"k": leaf}
    return leaf


LONE = st.integers(0xD800, 0xDFFF).map(chr)
SURROGATE_TEXT = st.tuples(st.text(max_size=5), LONE, st.text(max_size=5)).map("".join)
BIG_INT = st.one_of(st.integers(min_value=2**63), st.integers(max_value=-(2**63) - 1))
WRONG = st.one_of(st.floats(allow_nan=False), st.lists(st.integers(), max_size=3),
                  st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@st.composite
def hostile_body(draw: st.DrawFn, route: Route) -> bytes:
    base = _base(route.body)
    name = draw(st.sampled_from(sorted(base)))
    kind = draw(st.sampled_from(["surrogate", "surrogate_key", "big_int", "deep", "very_deep",
                                 "not_json", "bad_utf8", "constant", "wrong_type", "huge"]))
    if kind == "surrogate":
        base[name] = draw(st.one_of(SURROGATE_TEXT, st.lists(SURROGATE_TEXT, min_size=1)))
    elif kind == "surrogate_key":
        base[name] = {draw(SURROGATE_TEXT): 1}
    elif kind == "big_int":
        base[name] = draw(st.one_of(BIG_INT, st.lists(BIG_INT, min_size=1, max_size=3)))
    elif kind == "deep":
        base[name] = _nested(draw(st.integers(MAX_JSON_DEPTH, 800)))
    elif kind == "very_deep":
        depth = draw(st.integers(1_000, 100_000))
        return b'{"' + name.encode() + b'": ' + b"[" * depth + b"]" * depth + b"}"
    elif kind == "not_json":
        return draw(st.one_of(st.binary(min_size=1, max_size=200),
                              st.sampled_from([b"{", b"{'a': 1}", b"\xef\xbb\xbf{}", b"[1,]",
                                               b'{"a":1}{"b":2}', b"\x00"])))
    elif kind == "bad_utf8":
        text = json.dumps(base).encode()
        return text[:-1] + b', "z": "' + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80",
                                                             b"\xf8\x88\x80\x80\x80"])) + b'"}'
    elif kind == "constant":
        literal = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e999"]))
        text = json.dumps({k: v for k, v in base.items() if k != name})
        return (text[:-1] + (", " if len(text) > 2 else "") + f'"{name}": {literal}}}').encode()
    elif kind == "wrong_type":
        if base[name] == "x" and name in ("answer", "payload"):
            base[name] = None  # free-form: only null is of the wrong type
        else:
            base[name] = draw(WRONG.filter(lambda v, old=base[name]: type(v) is not type(old)))
        base["zz_unknown"] = 1  # never a valid body, whatever the value drawn
    else:
        base[name] = "x" * draw(st.sampled_from([MAX_ANSWER_BYTES + 1, 1_500_000, MAX_BODY + 1]))
    return json.dumps(base).encode()  # ensure_ascii: a lone surrogate becomes "\ud800"


@PROPERTY
@given(data=st.data())
def test_hostile_bodies_on_every_route_with_a_body_get_a_json_4xx(world, data) -> None:
    route = data.draw(st.sampled_from(BODY_ROUTES), label="route")
    body = data.draw(hostile_body(route), label="body")
    answer = raw(world.stack.url, request(route.method, _path(route, world.ids),
                                          _token(world, route), body))
    assert_refused(answer)
    assert_serves(world)


# --- hostile headers ---------------------------------------------------------------------

PRINTABLE = list(range(0x21, 0x7F))
HIGH = list(range(0x80, 0x100))
CONTROL = [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]


@st.composite
def hostile_header(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    name = draw(st.sampled_from(sorted(HEADER_LIMITS)))
    kind = draw(st.sampled_from(["non_ascii", "control", "tab", "too_long", "twice", "empty"]))
    edge = st.sampled_from(PRINTABLE + HIGH)
    if kind == "non_ascii":  # what aiohttp decodes with surrogateescape
        middle = draw(st.lists(st.sampled_from(PRINTABLE + HIGH), max_size=30))
        value = bytes([draw(edge), *middle, draw(st.sampled_from(HIGH)), draw(edge)])
    elif kind in ("control", "tab"):
        bad = 0x09 if kind == "tab" else draw(st.sampled_from(CONTROL))
        value = b"Bearer a" + bytes([bad]) + b"b"
    elif kind == "too_long":
        value = b"a" * draw(st.integers(HEADER_LIMITS[name] + 1, 9_000))
    elif kind == "twice":
        return [(name, b"one"), (name, b"two")]
    else:
        name, value = b"Idempotency-Key", b""
    return [(name, value)]


@PROPERTY
@given(data=st.data())
def test_hostile_headers_on_every_route_get_400_before_auth(world, data) -> None:
    route = data.draw(st.sampled_from(ROUTES), label="route")
    headers = data.draw(hostile_header(), label="headers")
    # A valid token too (unless Authorization is the hostile one): the header is refused
    # first, so nothing behind the guard runs, whatever the route does.
    names = {n for n, _ in headers}
    token = [] if b"Authorization" in names else _token(world, route)
    body = json.dumps(_base(route.body)).encode() if route.body else b""
    answer = raw(world.stack.url, request(route.method, _path(route, world.ids),
                                          token + headers, body))
    payload = assert_refused(answer, 400)
    assert payload["code"] in ("bad_header", "bad_request", "line_too_long"), payload
    assert_serves(world)


# --- hostile path parameters and queries -------------------------------------------------


@st.composite
def hostile_segment(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["percent", "raw", "long", "dots", "unicode"]))
    if kind == "percent":  # any bytes, percent-encoded: invalid UTF-8, NUL, surrogates
        return b"".join(b"%%%02X" % b for b in draw(st.binary(min_size=1, max_size=40)))
    if kind == "raw":
        return bytes(draw(st.lists(st.sampled_from(CONTROL + HIGH), min_size=1, max_size=8)))
    if kind == "long":
        return b"a" * draw(st.integers(201, 9_000))
    if kind == "dots":
        return draw(st.sampled_from([b"..", b"%2e%2e", b"%2F", b"a%2Fb", b"%00", b"%ED%A0%80"]))
    text = draw(st.text(min_size=1, max_size=20).filter(lambda t: t.strip("/?#") == t))
    return "".join(f"%{b:02X}" for b in text.encode("utf-8", "surrogatepass")).encode()


@PROPERTY
@given(data=st.data())
def test_hostile_path_parameters_and_queries_never_get_a_5xx(world, data) -> None:
    route = data.draw(st.sampled_from(PATH_ROUTES), label="route")
    names = re.findall(r"{(\w+)}", route.path)
    target = data.draw(st.sampled_from(names), label="parameter")
    segment = data.draw(hostile_segment(), label="segment")
    query = data.draw(st.sampled_from([b"", b"?%FF=%00", b"?a=%ED%A0%80&a", b"?" + b"q" * 300]))
    marker = "\x00MARK\x00"
    path = _path(route, world.ids, **{target: marker}).encode().replace(
        marker.encode(), segment) + query
    body = json.dumps(_base(route.body)).encode() if route.body else b""
    answer = raw(world.stack.url, request(route.method, path, _token(world, route), body))
    assert answer.status < 500, (answer.status, answer.body[:300])
    if answer.status >= 400:
        assert_refused(answer)
    else:  # only a read may answer for an id that names nothing (an empty ledger)
        assert route.method == "GET", (route.path, segment, answer.status, answer.body[:300])
    assert_serves(world)


# --- one explicit case per hostile class -------------------------------------------------


def _post(world: World, path: str, role: str, body: bytes,
          content_type: bytes | None = b"application/json") -> Answer:
    return raw(world.stack.url, request("POST", path, [bearer(world.tokens[role])], body,
                                        content_type))  # fmt: skip


def test_lone_surrogates_are_400_naming_the_json_path(world) -> None:
    claim = world.ids["claim_id"]
    body = b'{"answer": {"items": ["ok", "\\ud800"]}}'
    payload = assert_refused(_post(world, f"/v1/claims/{claim}/submit", "worker", body), 400)
    assert payload["code"] == "invalid_string" and "answer.items[1]" in payload["message"]
    body = b'{"amount": 1, "currency": "\\udfff"}'
    assert assert_refused(_post(world, "/v1/deposits", "requester", body), 400)["code"] == \
        "invalid_string"


def test_integers_outside_64_bits_are_400_naming_the_json_path(world) -> None:
    spec = dict(SPEC, payload={"n": [1, 2**64]})
    body = json.dumps({"batch_id": "big", "tasks": [SPEC, spec]}).encode()
    payload = assert_refused(_post(world, "/v1/batches", "requester", body), 400)
    assert payload["code"] == "number_out_of_range", payload
    assert "tasks[1].payload.n[1]" in payload["message"], payload
    body = b'{"amount": ' + b"9" * 5000 + b', "currency": "EUR"}'  # past int()'s digit limit
    assert assert_refused(_post(world, "/v1/deposits", "requester", body), 400)["code"] == \
        "number_out_of_range"


def test_deep_nesting_is_400_at_any_depth(world) -> None:
    claim = world.ids["claim_id"]
    for depth in (MAX_JSON_DEPTH, 300, 600, 100_000):
        body = b'{"answer": ' + b"[" * depth + b"]" * depth + b"}"
        payload = assert_refused(_post(world, f"/v1/claims/{claim}/submit", "worker", body), 400)
        assert payload["code"] == "json_too_deep", (depth, payload)


def test_an_answer_over_its_limit_is_413_naming_the_field(world) -> None:
    claim = world.ids["answer_claim"]
    body = json.dumps({"answer": {"text": "x" * MAX_ANSWER_BYTES}}).encode()
    payload = assert_refused(_post(world, f"/v1/claims/{claim}/submit", "worker", body), 413)
    assert payload["code"] == "answer_too_large", payload
    assert "answer" in payload["message"] and str(MAX_ANSWER_BYTES) in payload["message"]
    # Just under the limit: the whole way through the log (a record under Kafka's limit).
    near = json.dumps({"answer": {"text": "y" * (MAX_ANSWER_BYTES - 64)}}).encode()
    answer = _post(world, f"/v1/claims/{world.ids['near_claim']}/submit", "worker", near)
    assert answer.status == 201, (answer.status, answer.body[:300])


def test_a_body_that_is_not_json_by_its_content_type_is_415(world) -> None:
    body = b'{"amount": 1000, "currency": "EUR"}'
    for content_type in (b"text/plain", b"application/x-www-form-urlencoded",
                         b"multipart/form-data; boundary=x", b"application/json; charset=latin-1",
                         b"\xff\xfe"):  # fmt: skip
        payload = assert_refused(_post(world, "/v1/deposits", "requester", body, content_type),
                                 415)
        assert payload["code"] == "unsupported_media_type", (content_type, payload)
    for content_type in (None, b"application/json", b"application/json; charset=utf-8",
                         b"application/vnd.piecework+json"):  # fmt: skip
        answer = _post(world, "/v1/deposits", "requester", body, content_type)
        assert answer.status == 201, (content_type, answer.status, answer.body[:300])


def test_non_utf8_header_bytes_are_400_bad_header_naming_it(world) -> None:
    route_path, token = "/v1/ledger", world.tokens["requester"]
    for name in HEADER_LIMITS:
        headers = [bearer(token)] if name != b"Authorization" else []
        value = b"Bearer \xff\xfe" if name == b"Authorization" else b"k\xc3\x28\xff"
        answer = raw(world.stack.url, request("GET", route_path, [*headers, (name, value)]))
        payload = assert_refused(answer, 400)
        assert payload["code"] == "bad_header" and name.decode() in payload["message"], payload
    # the length rules: Idempotency-Key 1-100, X-Correlation-Id up to 100
    for name, value in ((b"Idempotency-Key", b"k" * 101), (b"X-Correlation-Id", b"c" * 101)):
        answer = raw(world.stack.url, request("GET", route_path, [bearer(token), (name, value)]))
        assert assert_refused(answer, 400)["code"] == "bad_header"


DEPOSIT = b"POST /v1/deposits HTTP/1.1\r\nHost: a\r\n"
GARBAGE = [
    b"BLAH\r\n\r\n",
    b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: a\r\n\r\n",
    b"GET /v1/\xff\xfe HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /v1/ledger HTTP/1.1\r\nHost: a\r\nX-A: a\x01b\r\n\r\n",
    b"GET /v1/ledger HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer s3cr3t\x00\r\n\r\n",
    b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(200)) + b"\r\n",
    DEPOSIT + b"Content-Length: abc\r\n\r\n",
    DEPOSIT + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    DEPOSIT + b"Transfer-Encoding: chunked\r\n\r\nZZ\r\nab\r\n0\r\n\r\n",
    DEPOSIT + b"Content-Encoding: br\r\nContent-Length: 2\r\n\r\n{}",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
]


@pytest.mark.parametrize("garbage", GARBAGE, ids=lambda g: repr(g[:24]))
def test_garbage_http_is_answered_in_json(world, garbage: bytes) -> None:
    payload = assert_refused(raw(world.stack.url, garbage), 400)
    assert "s3cr3t" not in payload["message"], payload  # aiohttp echoes the line; we do not


def test_a_body_that_does_not_inflate_is_400(world) -> None:
    answer = raw(world.stack.url, request(
        "POST", "/v1/deposits", [bearer(world.tokens["requester"]),
                                 (b"Content-Encoding", b"gzip")], b"not gzip at all"))
    assert assert_refused(answer, 400)["code"] == "bad_body_encoding"
    good = gzip.compress(b'{"amount": 1000, "currency": "EUR"}')
    answer = raw(world.stack.url, request(
        "POST", "/v1/deposits", [bearer(world.tokens["requester"]),
                                 (b"Content-Encoding", b"gzip")], good))
    assert answer.status == 201, (answer.status, answer.body[:300])


def test_router_and_size_errors_stay_json(world) -> None:
    token = [bearer(world.tokens["requester"])]
    assert assert_refused(raw(world.stack.url, request("GET", "/nowhere", token)), 404)
    assert assert_refused(raw(world.stack.url, request("PUT", "/v1/deposits", token)), 405)
    huge = b'{"amount": 1, "currency": "' + b"x" * MAX_BODY + b'"}'
    answer = raw(world.stack.url, request("POST", "/v1/deposits", token, huge))
    assert assert_refused(answer, 413)


def test_the_api_still_works_and_logged_no_traceback(world) -> None:
    """Last in file order: after every hostile request above."""
    assert HANDLER_MODULES and len(BODY_ROUTES) >= 8, "the route table did not load"
    assert_serves(world)
    probe(world.stack)
    time.sleep(0.5)  # let the API's log handler flush its last lines
    log = world.stack.log("api").read_text(errors="replace")
    assert "Traceback" not in log, log[log.find("Traceback") - 500:][:3000]
    assert "s3cr3t" not in log
