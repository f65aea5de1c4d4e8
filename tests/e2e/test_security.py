"""Who may call what, how much, how often, and that no token leaks anywhere.

One stack for the module, with small limits in its environment (rate, batch, body) so
the limits are reached with small requests. Runs in file order: the last test greps
everything the others produced for every token they used.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import redis
from kafka import KafkaProducer

from broker.api.app import HANDLER_MODULES  # importing the handlers fills ROUTES
from broker.api.routes import ROUTES, Route
from runtime.kafka_io import read_topic
from runtime.settings import Settings
from testkit.stack_processes import PATIENCE_S, Stack, probe
from tests.faults.roles import fault_stack

RATE, BURST = 20, 40
MAX_TASKS, MAX_BODY, MAX_PAYLOAD = 200, 4_000_000, 16 * 1024
LIMITS_ENV = {
    "PIECEWORK_RATE_LIMIT": str(RATE),
    "PIECEWORK_RATE_BURST": str(BURST),
    "PIECEWORK_MAX_BATCH_TASKS": str(MAX_TASKS),
    "PIECEWORK_MAX_BODY_BYTES": str(MAX_BODY),
}
SPEC = {"kind": "survey", "reward": 500_000, "currency": "EUR", "estimated_seconds": 60,
        "payload": {"q": "security"}}
BAD_TOKEN = "not-a-token-" + "x" * 32


@dataclass
class World:
    """A stack, its actors (A owns things, B tries to touch them) and their resources."""

    stack: Stack
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.stack.url


async def call(url: str, method: str, path: str, token: str | None = None,
               body: Any = None, data: bytes | None = None,
               key: str | None = None) -> tuple[int, dict]:
    """One raw request (no retries: every status counts). Returns (status, JSON or {})."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    if key is not None:
        headers["Idempotency-Key"] = key
    async with aiohttp.ClientSession() as session, session.request(
        method, url + path, json=body if data is None else None, data=data,
        headers={**headers, **({"Content-Type": "application/json"} if data else {})},
        timeout=aiohttp.ClientTimeout(total=PATIENCE_S),
    ) as response:
        text = await response.text()
        try:
            payload = await response.json(content_type=None) if text else {}
        except ValueError:
            payload = {"raw": text}
        return response.status, payload if isinstance(payload, dict) else {"list": payload}


def sync(url: str, method: str, path: str, token: str | None = None, body: Any = None,
         data: bytes | None = None) -> tuple[int, dict]:
    """One request and its answer; but a 503 (the processor did not answer within the
    API's 10 s: a busy machine) is not an answer: it is sent again with the same
    Idempotency-Key, as any client would, until PATIENCE_S. Every other status counts."""
    key = uuid.uuid4().hex
    deadline = time.monotonic() + PATIENCE_S
    while True:
        status, payload = asyncio.run(call(url, method, path, token, body, data, key))
        if status != 503 or time.monotonic() > deadline:
            return status, payload
        time.sleep(0.5)


def ok(result: tuple[int, dict], *expected: int) -> dict:
    status, payload = result
    assert status in expected, f"expected {expected}, got {status} {payload}"
    return payload


def _setup(world: World) -> None:
    url, op = world.url, world.stack.operator_token
    world.tokens["operator"] = op
    for actor, role in (("reqA", "requester"), ("reqB", "requester"), ("wrkA", "worker"),
                        ("wrkB", "worker"), ("wrkRate", "worker")):
        body = {"actor_id": actor, "role": role, "qualifications": []}
        world.tokens[actor] = ok(sync(url, "POST", "/v1/actors", op, body), 201)["token"]
    for requester in ("reqA", "reqB"):
        ok(sync(url, "POST", "/v1/deposits", world.tokens[requester],
                {"amount": 100_000_000, "currency": "EUR"}), 201)
    posted = ok(sync(url, "POST", "/v1/batches", world.tokens["reqA"],
                     {"batch_id": "own", "tasks": [SPEC] * 6}), 201)
    tasks = posted["task_ids"]
    a = world.tokens["wrkA"]
    claims = [ok(sync(url, "POST", f"/v1/tasks/{t}/claim", a), 201)["claim_id"] for t in tasks]
    # tasks[0]: submitted, pending review; [1]: claimed, live; [2]: submitted then rejected;
    # [3..5]: the same again, for the matrix (which may act on them).
    subs = {i: ok(sync(url, "POST", f"/v1/claims/{claims[i]}/submit", a, {"answer": "a"}),
                  201)["submission_id"] for i in (0, 2, 3, 5)}
    ok(sync(url, "POST", f"/v1/submissions/{subs[2]}/reject", world.tokens["reqA"],
            {"reason": "wrong"}), 200)
    world.ids.update(task=tasks[0], pending=subs[0], live_claim=claims[1], rejected=subs[2],
                     m_task=tasks[3], m_sub=subs[3], m_claim=claims[4], m_sub2=subs[5])


@pytest.fixture(scope="module")
def world(kafka_bootstrap, redis_url, tmp_path_factory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("security")
    with fault_stack(kafka_bootstrap, redis_url, workdir, extra_env=LIMITS_ENV) as stack:
        probe(stack)
        found = World(stack)
        _setup(found)
        yield found


def _path(route: Route, ids: dict[str, str]) -> str:
    values = {"task_id": ids["m_task"], "claim_id": ids["m_claim"],
              "submission_id": ids["m_sub"], "role": "worker", "actor_id": "wrkA",
              "token_id": "0" * 16, "batch_id": "own", "webhook_id": "wh_none",
              "requester_id": "reqA"}
    if route.path.startswith("/v1/actors/{actor_id}/tokens"):
        # The operator's pass would revoke wrkA's token, which later rows and tests use.
        values["actor_id"] = "no-such-actor"
    names = re.findall(r"{(\w+)}", route.path)
    unknown = set(names) - set(values)
    assert not unknown, f"{route.path}: add a value for {unknown} to this test"
    return route.path.format(**values)


def _is_guard_403(status: int, payload: dict) -> bool:
    return status == 403 and str(payload.get("message", "")).startswith("this call is for")


def test_the_role_guard_answers_401_and_403_exactly_as_the_route_table_says(world) -> None:
    identities = {"none": None, "bad token": BAD_TOKEN, "requester": world.tokens["reqA"],
                  "worker": world.tokens["wrkA"], "operator": world.tokens["operator"]}
    assert HANDLER_MODULES and len(ROUTES) >= 20, "the route table did not load"
    wrong = []
    for route in ROUTES:
        path = _path(route, world.ids)
        for who, token in identities.items():
            status, payload = sync(world.url, route.method, path, token,
                                   {} if route.method == "POST" else None)
            if status >= 500:
                wrong.append(f"{route.method} {route.path} as {who}: {status} {payload}")
            elif not route.roles:
                if status in (401, 403):
                    wrong.append(f"{route.method} {route.path} is public, {who} got {status}")
            elif token is None or token == BAD_TOKEN:
                if (status, payload.get("code")) != (401, "unauthenticated"):
                    wrong.append(f"{route.method} {route.path} as {who}: {status}, not 401")
            elif who in route.roles:
                if status == 401 or _is_guard_403(status, payload):
                    wrong.append(f"{route.method} {route.path} refused its role {who}: {status}")
            elif not (_is_guard_403(status, payload) and payload.get("code") == "forbidden"):
                wrong.append(f"{route.method} {route.path} let {who} through: {status} {payload}")
    assert not wrong, "\n".join(wrong)


# (who, method, path template, body): each must be refused 403 forbidden, each by the
# domain (commands) or the read side (views), never by the role guard.
NOT_YOURS = [
    ("reqB", "POST", "/v1/submissions/{pending}/approve", None),
    ("reqB", "POST", "/v1/submissions/{pending}/reject", {"reason": "mine now"}),
    ("reqB", "POST", "/v1/submissions/{rejected}/overturn", None),
    ("reqB", "POST", "/v1/tasks/{task}/cancel", None),
    ("reqB", "POST", "/v1/tasks/{task}/bonus", {"worker_id": "wrkA", "amount": 1_000,
                                                "reason": "x"}),
    ("reqB", "GET", "/v1/tasks/{task}", None),
    ("reqB", "GET", "/v1/tasks/{task}/submissions", None),
    ("reqB", "GET", "/v1/submissions/{pending}", None),
    ("reqB", "GET", "/v1/claims/{live_claim}", None),
    ("wrkB", "POST", "/v1/claims/{live_claim}/submit", {"answer": "stolen"}),
    ("wrkB", "POST", "/v1/claims/{live_claim}/release", None),
    ("wrkB", "POST", "/v1/submissions/{rejected}/dispute", {"reason": "mine now"}),
    ("wrkB", "GET", "/v1/claims/{live_claim}", None),
    ("wrkB", "GET", "/v1/submissions/{pending}", None),
]


def _wait_visible(world: World, path: str, token: str, timeout: float = PATIENCE_S) -> None:
    """Read endpoints follow the views, a moment behind the log."""
    deadline = time.monotonic() + timeout
    while sync(world.url, "GET", path, token)[0] == 404 and time.monotonic() < deadline:
        time.sleep(0.2)


def test_nobody_touches_another_ones_tasks_claims_or_submissions(world) -> None:
    ids, tokens = world.ids, world.tokens
    _wait_visible(world, f"/v1/submissions/{ids['pending']}", tokens["reqA"])
    _wait_visible(world, f"/v1/claims/{ids['live_claim']}", tokens["wrkA"])
    wrong = []
    for who, method, template, body in NOT_YOURS:
        path = template.format(**ids)
        status, payload = sync(world.url, method, path, tokens[who], body)
        if status != 403 or payload.get("code") != "forbidden" or _is_guard_403(status, payload):
            wrong.append(f"{who} {method} {path}: {status} {payload}")
    assert not wrong, "\n".join(wrong)
    # Nothing happened to A's things: A can still do each of them itself.
    ok(sync(world.url, "POST", f"/v1/submissions/{ids['pending']}/approve", tokens["reqA"]), 200)
    ok(sync(world.url, "POST", f"/v1/claims/{ids['live_claim']}/submit", tokens["wrkA"],
            {"answer": "mine"}), 201)
    ok(sync(world.url, "POST", f"/v1/submissions/{ids['rejected']}/dispute", tokens["wrkA"],
            {"reason": "it was right"}), 200)


def test_payload_batch_and_body_limits_answer_413(world) -> None:
    token = world.tokens["reqA"]
    big_payload = dict(SPEC, payload={"blob": "x" * (MAX_PAYLOAD + 1)})
    status, payload = sync(world.url, "POST", "/v1/batches", token,
                           {"batch_id": "fat", "tasks": [SPEC, big_payload]})
    assert (status, payload.get("code")) == (413, "payload_too_large"), payload
    status, payload = sync(world.url, "POST", "/v1/batches", token,
                           {"batch_id": "long", "tasks": [SPEC] * (MAX_TASKS + 1)})
    assert (status, payload.get("code")) == (413, "batch_too_large"), payload
    body = b'{"batch_id": "huge", "tasks": [], "pad": "' + b"x" * MAX_BODY + b'"}'
    status, payload = sync(world.url, "POST", "/v1/batches", token, data=body)
    assert status == 413, payload
    # Within every limit, yet larger than one Kafka record (about 1 MiB) in all: accepted.
    near = dict(SPEC, payload={"blob": "y" * (MAX_PAYLOAD - 100)})
    status, payload = sync(world.url, "POST", "/v1/batches", token,
                           {"batch_id": "wide", "tasks": [near] * 100})
    assert status == 201 and len(payload["task_ids"]) == 100, (status, payload)


async def retry_afters(url: str, token: str, n: int) -> list[str | None]:
    """The Retry-After header of each 429 in a burst of n raw requests."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:

        async def one() -> tuple[int, str | None]:
            async with session.get(url + "/v1/ledger", headers=headers) as response:
                return response.status, response.headers.get("Retry-After")

        answers = await asyncio.gather(*(one() for _ in range(n)))
    return [wait for status, wait in answers if status == 429]


def test_rate_limit_per_token_answers_429_then_recovers(world) -> None:
    async def burst(token: str, n: int) -> list[tuple[int, dict]]:
        return await asyncio.gather(*(call(world.url, "GET", "/v1/ledger", token)
                                      for _ in range(n)))

    token = world.tokens["wrkRate"]
    began = time.monotonic()
    results = asyncio.run(burst(token, 5 * BURST))
    elapsed = time.monotonic() - began
    statuses = [s for s, _ in results]
    limited = [p for s, p in results if s == 429]
    assert set(statuses) <= {200, 429}, statuses
    # A token bucket: the burst, plus what refilled while the requests were served.
    assert BURST <= statuses.count(200) <= BURST + RATE * elapsed + 1, (statuses, elapsed)
    assert limited and {p.get("code") for p in limited} == {"rate_limited"}
    # Another token is not slowed down by this one.
    ok(sync(world.url, "GET", "/v1/ledger", world.tokens["wrkA"]), 200)
    # A 429 says when to come back, in whole seconds (the Python client honours it).
    waits = asyncio.run(retry_afters(world.url, token, 2 * BURST))
    assert waits and all(w is not None and w.isdigit() and int(w) >= 1 for w in waits), waits
    time.sleep(BURST / RATE + 0.5)  # the bucket refills
    assert [s for s, _ in asyncio.run(burst(token, BURST // 2))] == [200] * (BURST // 2)


def _everything_written(world: World) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) for every log file, /metrics, every record of every topic, and
    every key and value in the stack's Redis database."""
    for role in world.stack.processes:
        yield f"{role}.log", world.stack.log(role).read_bytes()
    with urllib.request.urlopen(f"{world.url}/metrics", timeout=PATIENCE_S) as response:
        yield "/metrics", response.read()
    settings = Settings.from_env(world.stack.env)
    topics = settings.topics
    for topic in (topics.commands, topics.events, topics.replies, topics.dead_letter):
        for record in read_topic(settings.kafka, topic, "security-grep"):
            yield f"{topic} {record.partition}/{record.offset}", (
                (record.key or b"") + b"\0" + (record.value or b""))
    db = redis.Redis.from_url(settings.redis)
    try:
        for key in db.scan_iter(count=1_000):
            kind = db.type(key)
            value = {b"string": lambda k: db.get(k), b"hash": lambda k: repr(db.hgetall(k)),
                     b"set": lambda k: repr(db.smembers(k)), b"list": lambda k: repr(
                         db.lrange(k, 0, -1)), b"zset": lambda k: repr(db.zrange(k, 0, -1))
                     }.get(kind, lambda k: b"")(key)
            yield f"redis {key!r}", key + b"\0" + (value if isinstance(value, bytes)
                                                    else str(value).encode())
    finally:
        db.close()


def test_no_token_appears_in_logs_metrics_topics_or_redis(world) -> None:
    settings = Settings.from_env(world.stack.env)
    # A dead letter, so the dead-letter topic has something to search.
    producer = KafkaProducer(bootstrap_servers=settings.kafka)
    producer.send(settings.topics.commands, os.urandom(64), key=b"garbage").get(
        timeout=PATIENCE_S)
    producer.close()
    secrets = {name: token.encode() for name, token in world.tokens.items()}
    deadline = time.monotonic() + PATIENCE_S
    while not list(read_topic(settings.kafka, settings.topics.dead_letter, "security-dl")):
        assert time.monotonic() < deadline, "the garbage command was never dead-lettered"
        time.sleep(0.5)
    leaks, places = [], 0
    for where, data in _everything_written(world):
        places += 1
        leaks += [f"{name}'s token in {where}" for name, s in secrets.items() if s in data]
    print(f"searched {places} places for {len(secrets)} tokens")
    assert places > 100 and not leaks, "\n".join(leaks[:20])
