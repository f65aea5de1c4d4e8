"""Webhooks against the real stack (processor, API, views, timers and the webhooks role) with
receivers on 127.0.0.1: a receiver that fails its first deliveries (no listener, 500, a
timeout, 503) still gets every event of its actor exactly once after de-duplication by
webhook-id, in order per partition, each signature valid; a typed subscription; disabled
after the threshold and enabled again without loss; kill -9 of the sender mid-stream;
tenant isolation on every webhook route; hostile inputs. Deadlines only, no timings."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from broker.client import Client
from schemas.webhook_signature import WebhookVerificationError, verify_webhook
from testkit.stack_processes import PATIENCE_S, Stack, free_port, running_stack_on_a_free_db
from tests.faults.roles import kill9, restart

CANDIDATE_DBS = (7, 5, 6)  # like test_bulk_review: the first no running stack owns
# The flaky receiver's plan fails 3 times on purpose, after however many refused connections
# happen before the test starts listening (its poll takes seconds on a loaded machine): the
# threshold must leave room for both, or the webhook is rightly disabled mid-test.
MAX_FAILURES = 20
TIMEOUT_MS = 1_000
ENV = {
    "PIECEWORK_WEBHOOK_ALLOW_PRIVATE": "1",  # the receivers are on 127.0.0.1
    "PIECEWORK_WEBHOOK_RETRY_BASE_MS": "100",
    "PIECEWORK_WEBHOOK_RETRY_CAP_MS": "1000",
    "PIECEWORK_WEBHOOK_MAX_FAILURES": str(MAX_FAILURES),
    "PIECEWORK_WEBHOOK_TIMEOUT_MS": str(TIMEOUT_MS),
    "PIECEWORK_WEBHOOK_MAX_PER_ACTOR": "10",
    "PIECEWORK_RATE_LIMIT": "100000",
    "PIECEWORK_RATE_BURST": "100000",
}
SPEC = {"kind": "survey", "reward": 1_000, "currency": "EUR", "estimated_seconds": 60,
        "payload": {"q": "webhooks"}}


@pytest.fixture(scope="module")
def stack(kafka_bootstrap, redis_url, tmp_path_factory) -> Iterator[Stack]:
    with running_stack_on_a_free_db(
            kafka_bootstrap, redis_url, tmp_path_factory.mktemp("webhooks"), CANDIDATE_DBS,
            extra_roles=("webhooks",), extra_env=ENV) as running:
        yield running


# --- a receiver ------------------------------------------------------------------------


class Receiver:
    """A webhook endpoint on 127.0.0.1. `plan(n)` answers the n-th request (0-based): a
    status, or ("sleep", seconds) then 200. Every request's signature is checked."""

    def __init__(self, plan: Callable[[int], Any] = lambda n: 200, port: int | None = None):
        self.plan, self.port = plan, port or free_port()
        self.secret = ""
        self.requests = 0
        self.accepted: list[tuple[str, bytes]] = []  # (webhook-id, body) answered 2xx
        self.bad_signatures: list[str] = []
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        n, self.requests = self.requests, self.requests + 1
        raw = await request.read()
        try:
            verify_webhook(self.secret, request.headers, raw, now=time.time())
        except WebhookVerificationError as exc:
            self.bad_signatures.append(str(exc))
            return web.Response(status=400)
        answer = self.plan(n)
        if isinstance(answer, tuple):
            await asyncio.sleep(answer[1])
            answer = 200
        if 200 <= answer < 300:
            self.accepted.append((request.headers["webhook-id"], raw))
        return web.Response(status=answer, text="thanks")

    def unique(self) -> list[dict[str, Any]]:
        """The events received, de-duplicated by webhook-id (first arrival kept)."""
        seen: dict[str, dict[str, Any]] = {}
        for event_id, raw in self.accepted:
            document = json.loads(raw)
            assert document["data"]["id"] == event_id
            seen.setdefault(event_id, document["data"])
        return list(seen.values())


# --- the API -----------------------------------------------------------------------------


async def call(url: str, method: str, path: str, token: str | None, body: Any = None,
               headers: dict[str, str] | None = None, raw: bytes | None = None,
               ) -> tuple[int, Any]:  # fmt: skip
    sent = {"Authorization": f"Bearer {token}"} if token else {}
    sent.update(headers or {})
    async with aiohttp.ClientSession() as session:
        kwargs: dict[str, Any] = {"data": raw} if raw is not None else (
            {"json": body} if body is not None else {})
        async with session.request(method, url + path, headers=sent, **kwargs) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text else None)


async def until(what: str, check: Callable[[], Awaitable[Any]], stack: Stack) -> Any:
    deadline = time.monotonic() + PATIENCE_S
    while True:
        found = await check()
        if found:
            return found
        stack.assert_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {PATIENCE_S:.0f} s\n{stack.tails()}")
        await asyncio.sleep(0.25)


async def actors(stack: Stack, *specs: tuple[str, str]) -> dict[str, str]:
    """role per actor id -> tokens, each id made unique by a tag."""
    async with Client(stack.url, stack.operator_token) as operator:
        return {name: await operator.create_actor(name, role) for name, role in specs}


async def subscribe(stack: Stack, token: str, receiver: Receiver, **extra: Any) -> dict:
    status, created = await call(stack.url, "POST", "/v1/webhooks", token,
                                 {"url": receiver.url, **extra})  # fmt: skip
    assert status == 201, created
    receiver.secret = created["secret"]
    return created


async def feed(stack: Stack, token: str, types: str | None = None) -> list[dict[str, Any]]:
    """The actor's whole feed, page by page (GET /v1/events): what a webhook must deliver."""
    items: list[dict[str, Any]] = []
    after = ""
    while True:
        query = f"?limit=1000{'&after=' + after if after else ''}"
        query += f"&types={types}" if types else ""
        status, page = await call(stack.url, "GET", "/v1/events" + query, token)
        assert status == 200, page
        items += page["items"]
        after = page["next_cursor"]
        if not page["has_more"]:
            return items


async def delivered_all(stack: Stack, token: str, receiver: Receiver, at_least: int,
                        types: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Wait until the feed holds `at_least` events and the receiver has every one."""

    async def check() -> list[dict[str, Any]] | None:
        events = await feed(stack, token, types)
        got = {e["id"] for e in receiver.unique()}
        return events if len(events) >= at_least and {e["id"] for e in events} <= got else None

    return await until(f"{at_least} events delivered", check, stack)


def assert_exactly_once_in_order(receiver: Receiver, events: list[dict[str, Any]]) -> None:
    received = receiver.unique()
    assert sorted(e["id"] for e in received) == sorted(e["id"] for e in events)
    assert not receiver.bad_signatures
    by_id = {e["id"]: e for e in events}
    for got in received:
        want = by_id[got["id"]]
        assert (got["type"], got["partition"], got["position"]) == (
            want["type"], want["partition"], want["position"])
    for partition in {e["partition"] for e in received}:
        positions = [e["position"] for e in received if e["partition"] == partition]
        assert positions == sorted(positions), f"partition {partition} out of order"
    bodies: dict[str, bytes] = {}
    for event_id, raw in receiver.accepted:  # a duplicate is the very same delivery
        assert bodies.setdefault(event_id, raw) == raw


async def deliveries(stack: Stack, token: str, webhook_id: str) -> list[dict[str, Any]]:
    status, page = await call(stack.url, "GET", f"/v1/webhooks/{webhook_id}/deliveries"
                              "?limit=1000", token)  # fmt: skip
    assert status == 200, page
    return page["items"]


async def hook_state(stack: Stack, token: str, webhook_id: str) -> dict[str, Any]:
    status, found = await call(stack.url, "GET", f"/v1/webhooks/{webhook_id}", token)
    assert status == 200, found
    return found


# --- the scenarios -------------------------------------------------------------------------


def test_a_receiver_failing_its_first_deliveries_gets_every_event_exactly_once(stack: Stack):
    async def scenario() -> None:
        tag = uuid.uuid4().hex[:6]
        acme, ana = f"acme-{tag}", f"ana-{tag}"
        tokens = await actors(stack, (acme, "requester"), (ana, "worker"))
        # Not listening yet: the first attempts find no one (connection refused).
        plan = {0: 500, 1: ("sleep", 2 * TIMEOUT_MS / 1000), 2: 503}
        flaky = Receiver(lambda n: plan.get(n, 200))
        typed, worker_side = Receiver(), await Receiver().start()
        await typed.start()
        hook = await subscribe(stack, tokens[acme], flaky, description="all of acme's")
        await subscribe(stack, tokens[acme], typed, event_types=["BatchPosted", "WorkSubmitted"])
        await subscribe(stack, tokens[ana], worker_side)
        assert hook["status"] == "enabled" and hook["secret"].startswith("whsec_")
        async with Client(stack.url, tokens[acme], retries=8, timeout=60) as requester, \
                Client(stack.url, tokens[ana], retries=8, timeout=60) as worker:
            await requester.deposit(10_000_000, "EUR")

            async def refused() -> bool:
                return any(d["status"] == "failed" and "connect" in (d["error"] or "")
                           for d in await deliveries(stack, tokens[acme], hook["webhook_id"]))

            await until("a delivery refused (nobody listening)", refused, stack)
            await flaky.start()
            await requester.post_batch("b1", [SPEC, SPEC])
            for i in range(5):
                await requester.deposit(1_000 + i, "EUR")
            claim = None
            while claim is None:
                claim = await worker.claim_next()
            submitted = await worker.submit(claim["claim_id"], {"a": 1})
            await requester.approve(submitted["submission_id"])
        try:
            # 6 deposits, BatchPosted, TaskClaimed, WorkSubmitted, SubmissionApproved at least
            events = await delivered_all(stack, tokens[acme], flaky, 10)
            assert_exactly_once_in_order(flaky, events)
            assert {"FundsDeposited", "BatchPosted", "TaskClaimed", "WorkSubmitted",
                    "SubmissionApproved"} <= {e["type"] for e in events}  # fmt: skip
            wanted = await delivered_all(stack, tokens[acme], typed, 2,
                                         types="BatchPosted,WorkSubmitted")  # fmt: skip
            assert_exactly_once_in_order(typed, wanted)
            mine = await delivered_all(stack, tokens[ana], worker_side, 3)
            assert_exactly_once_in_order(worker_side, mine)
            assert {"TaskClaimed", "WorkSubmitted", "SubmissionApproved"} <= {
                e["type"] for e in mine}
        finally:
            for receiver in (flaky, typed, worker_side):
                await receiver.stop()
        attempts = await deliveries(stack, tokens[acme], hook["webhook_id"])
        first = attempts[-1]  # newest first
        assert (first["status"], first["attempt"], first["http_status"]) == ("failed", 1, None)
        failed = [d for d in attempts if d["status"] == "failed"]
        assert {500, 503} <= {d["http_status"] for d in failed}
        assert any("no answer within" in (d["error"] or "") for d in failed)
        assert [d["at"] for d in attempts] == sorted((d["at"] for d in attempts), reverse=True)
        # the failed event was delivered at last, at a higher attempt number
        done = [d for d in attempts if d["event_id"] == first["event_id"]
                and d["status"] == "delivered"]
        assert done and done[0]["attempt"] > 1
        state = await hook_state(stack, tokens[acme], hook["webhook_id"])
        assert (state["status"], state["failures"]) == ("enabled", 0) and "secret" not in state
        # pages: newest first, by a cursor
        status, page = await call(stack.url, "GET", f"/v1/webhooks/{hook['webhook_id']}"
                                  "/deliveries?limit=2", tokens[acme])  # fmt: skip
        assert status == 200 and len(page["items"]) == 2 and page["next_cursor"]
        status, rest = await call(stack.url, "GET", f"/v1/webhooks/{hook['webhook_id']}"
                                  f"/deliveries?limit=1000&cursor={page['next_cursor']}",
                                  tokens[acme])  # fmt: skip
        assert [d["delivery_id"] for d in page["items"] + rest["items"]] == [
            d["delivery_id"] for d in attempts] and rest["next_cursor"] is None

    asyncio.run(scenario())


def test_disabled_after_the_threshold_then_enabled_again_without_loss(stack: Stack):
    async def scenario() -> None:
        bob = f"bob-{uuid.uuid4().hex[:6]}"
        token = (await actors(stack, (bob, "requester")))[bob]
        healthy = False
        receiver = await Receiver(lambda n: 200 if healthy else 500).start()
        try:
            hook = await subscribe(stack, token, receiver)
            async with Client(stack.url, token, retries=8, timeout=60) as requester:
                await requester.deposit(1_000, "EUR")

                async def disabled() -> dict | None:
                    state = await hook_state(stack, token, hook["webhook_id"])
                    return state if state["status"] == "disabled" else None

                state = await until("the webhook disabled", disabled, stack)
                assert state["failures"] == MAX_FAILURES and "HTTP 500" in state["last_error"]
                tried = receiver.requests
                for i in range(3):  # events while disabled wait at the cursor
                    await requester.deposit(2_000 + i, "EUR")
                await asyncio.sleep(1)
                assert receiver.requests == tried, "a disabled webhook was still called"
                healthy = True
                status, enabled = await call(stack.url, "POST",
                                             f"/v1/webhooks/{hook['webhook_id']}/enable", token)
                assert status == 200 and enabled["status"] == "enabled", enabled
                assert enabled["failures"] == 0
                await requester.deposit(3_000, "EUR")
            events = await delivered_all(stack, token, receiver, 5)
            assert_exactly_once_in_order(receiver, events)
        finally:
            await receiver.stop()

    asyncio.run(scenario())


def test_kill_9_of_the_sender_mid_stream_loses_nothing(stack: Stack):
    n_events = 120

    async def scenario() -> None:
        carl = f"carl-{uuid.uuid4().hex[:6]}"
        token = (await actors(stack, (carl, "requester")))[carl]
        receiver = await Receiver(lambda n: ("sleep", 0.05)).start()
        try:
            await subscribe(stack, token, receiver)
            async with Client(stack.url, token, retries=8, timeout=60) as requester:
                sem = asyncio.Semaphore(8)

                async def deposit(i: int) -> None:
                    async with sem:
                        await requester.deposit(1_000 + i, "EUR")

                posting = asyncio.gather(*(deposit(i) for i in range(n_events)))

                async def midway() -> bool:
                    return len(receiver.accepted) >= 20

                await until("the first deliveries", midway, stack)
                await asyncio.to_thread(kill9, stack, "webhooks")
                got_before = len(receiver.accepted)
                await asyncio.sleep(1)
                await asyncio.to_thread(restart, stack, "webhooks")
                await posting
            events = await delivered_all(stack, token, receiver, n_events)
            assert got_before < n_events, "killed too late to test anything"
            assert_exactly_once_in_order(receiver, events)
            print(f"{len(receiver.accepted)} deliveries for {n_events} events")
        finally:
            await receiver.stop()

    asyncio.run(scenario())


def test_every_webhook_route_keeps_tenants_apart(stack: Stack):
    async def scenario() -> None:
        tag = uuid.uuid4().hex[:6]
        a, b, wa, wb = f"reqa-{tag}", f"reqb-{tag}", f"wrka-{tag}", f"wrkb-{tag}"
        tokens = await actors(stack, (a, "requester"), (b, "requester"), (wa, "worker"),
                              (wb, "worker"))  # fmt: skip
        op = stack.operator_token
        url = "http://127.0.0.1:9/hook"  # nothing listens: these are never delivered to
        mine = {}
        for who in (a, wa):
            status, created = await call(stack.url, "POST", "/v1/webhooks", tokens[who],
                                         {"url": url})  # fmt: skip
            assert status == 201, created
            mine[who] = created["webhook_id"]
        for owner, other in ((a, b), (a, wb), (wa, wb), (wa, a)):
            hid = mine[owner]
            for method, path in (("GET", f"/v1/webhooks/{hid}"),
                                 ("GET", f"/v1/webhooks/{hid}/deliveries"),
                                 ("POST", f"/v1/webhooks/{hid}/enable"),
                                 ("DELETE", f"/v1/webhooks/{hid}")):  # fmt: skip
                status, answer = await call(stack.url, method, path, tokens[other])
                assert (status, answer["code"]) == (404, "not_found"), (other, method, path)
            status, listed = await call(stack.url, "GET", "/v1/webhooks", tokens[other])
            assert status == 200 and hid not in {h["webhook_id"] for h in listed["items"]}
            status, answer = await call(stack.url, "GET", f"/v1/webhooks?actor_id={owner}",
                                        tokens[other])  # fmt: skip
            assert (status, answer["code"]) == (403, "forbidden")
            status, answer = await call(stack.url, "GET", f"/v1/webhooks/{hid}?actor_id={other}",
                                        tokens[owner])  # fmt: skip
            assert status == 403
        for who in (a, wa):
            status, listed = await call(stack.url, "GET", "/v1/webhooks", tokens[who])
            assert [h["webhook_id"] for h in listed["items"]] == [mine[who]]
            assert all("secret" not in h for h in listed["items"])
        # Operators read anyone's, never write them
        status, listed = await call(stack.url, "GET", f"/v1/webhooks?actor_id={wa}", op)
        assert status == 200 and [h["webhook_id"] for h in listed["items"]] == [mine[wa]]
        assert (await call(stack.url, "GET", f"/v1/webhooks/{mine[a]}", op))[0] == 200
        assert (await call(stack.url, "GET", f"/v1/webhooks/{mine[a]}/deliveries", op))[0] == 200
        assert (await call(stack.url, "GET", f"/v1/webhooks/{mine[a]}?actor_id={b}", op))[0] == 404
        assert (await call(stack.url, "GET", "/v1/webhooks", op))[0] == 422
        for method, path, body in (("POST", "/v1/webhooks", {"url": url}),
                                   ("POST", f"/v1/webhooks/{mine[a]}/enable", None),
                                   ("DELETE", f"/v1/webhooks/{mine[a]}", None)):  # fmt: skip
            status, answer = await call(stack.url, method, path, op, body)
            assert (status, answer["code"]) == (403, "forbidden"), (method, path)
        for method, path in (("GET", "/v1/webhooks"), ("GET", f"/v1/webhooks/{mine[a]}"),
                             ("DELETE", f"/v1/webhooks/{mine[a]}")):  # fmt: skip
            assert (await call(stack.url, method, path, None))[0] == 401
        # Every attempt above left them as they were; their owners may delete them.
        for who in (a, wa):
            assert (await call(stack.url, "DELETE", f"/v1/webhooks/{mine[who]}", tokens[who])
                    )[0] == 204  # fmt: skip
            assert (await call(stack.url, "GET", f"/v1/webhooks/{mine[who]}", tokens[who])
                    )[0] == 404  # fmt: skip

    asyncio.run(scenario())


BAD_BODIES = [
    ({"url": "ftp://example.org/x"}, 422),
    ({"url": "http://"}, 422),
    ({"url": "http://127.0.0.1/" + "a" * 2_000}, 422),
    ({"url": "https://user:pw@127.0.0.1/hook"}, 422),
    ({"url": "http://127.0.0.1:99999/hook"}, 422),
    ({"url": 5}, 422),
    ({}, 422),
    ({"url": "http://127.0.0.1/hook", "event_types": ["NoSuchEvent"]}, 422),
    ({"url": "http://127.0.0.1/hook", "event_types": ["TaskPosted"]}, 422),  # never in a feed
    ({"url": "http://127.0.0.1/hook", "event_types": "BatchPosted"}, 422),
    ({"url": "http://127.0.0.1/hook", "description": "d" * 201}, 422),
    ({"url": "http://127.0.0.1/hook", "secret": "whsec_mine"}, 422),
]


def test_hostile_inputs_are_refused_with_a_json_4xx(stack: Stack):
    async def scenario() -> None:
        dan = f"dan-{uuid.uuid4().hex[:6]}"
        token = (await actors(stack, (dan, "requester")))[dan]
        for body, expected in BAD_BODIES:
            status, answer = await call(stack.url, "POST", "/v1/webhooks", token, body)
            assert status == expected and answer["code"] and answer["message"], (body, answer)
        for raw, headers, expected in ((b"{not json", {"Content-Type": "application/json"}, 400),
                                       (b"url=x", {"Content-Type": "text/plain"}, 415)):
            status, answer = await call(stack.url, "POST", "/v1/webhooks", token, raw=raw,
                                        headers=headers)  # fmt: skip
            assert status == expected and answer["code"], answer
        for query in ("limit=0", "limit=5000", "limit=x", "cursor=abc", "cursor=-1"):
            status, answer = await call(stack.url, "GET",
                                        f"/v1/webhooks/wh_nope/deliveries?{query}", token)
            assert (status, answer["code"]) == (422, "bad_query"), query
        status, answer = await call(stack.url, "GET", "/v1/webhooks/wh_nope", token)
        assert (status, answer["code"]) == (404, "not_found")
        # An Idempotency-Key makes a retried create the same webhook; another body is refused.
        body = {"url": "http://127.0.0.1:9/hook", "description": "once"}
        key = {"Idempotency-Key": f"create-{uuid.uuid4().hex}"}
        first = await call(stack.url, "POST", "/v1/webhooks", token, body, headers=key)
        again = await call(stack.url, "POST", "/v1/webhooks", token, body, headers=key)
        assert first[0] == again[0] == 201 and first[1] == again[1]
        other = await call(stack.url, "POST", "/v1/webhooks", token, {**body, "description": "x"},
                           headers=key)  # fmt: skip
        assert (other[0], other[1]["code"]) == (422, "idempotency_key_reused")
        # At most 10 per actor: the 11th is refused, a deletion makes room again.
        made = [first[1]["webhook_id"]]
        for _ in range(9):
            status, created = await call(stack.url, "POST", "/v1/webhooks", token, body)
            assert status == 201, created
            made.append(created["webhook_id"])
        status, answer = await call(stack.url, "POST", "/v1/webhooks", token, body)
        assert (status, answer["code"]) == (409, "too_many_webhooks")
        assert (await call(stack.url, "DELETE", f"/v1/webhooks/{made[0]}", token))[0] == 204
        assert (await call(stack.url, "POST", "/v1/webhooks", token, body))[0] == 201

    asyncio.run(scenario())


def test_private_targets_are_refused_without_the_setting(redis_test_url: str, unique_name: str,
                                                        redis_client: Any):
    """The API's create handler in-process, with PIECEWORK_WEBHOOK_ALLOW_PRIVATE unset:
    loopback, private and link-local targets, by address or by name, are a 422."""
    from aiohttp.test_utils import TestClient, TestServer
    from redis.asyncio import Redis

    from broker.api.app import SERVICES, make_app
    from broker.api.auth import Actor, TokenStore
    from broker.api.ratelimit import RateLimiter
    from broker.api.services import Services
    from consumers.stores.redis_store import RedisStore
    from runtime.settings import Settings

    settings = Settings(redis=redis_test_url, partitions=4)
    assert not settings.webhook_allow_private

    async def scenario() -> None:
        redis = Redis.from_url(redis_test_url)
        tokens = TokenStore(redis, namespace=f"{unique_name}:auth")
        token = await tokens.register(Actor(f"eve-{uuid.uuid4().hex[:6]}", "requester"))

        async def services(app: web.Application):
            app[SERVICES] = Services(settings, None, None, tokens, redis,  # type: ignore[arg-type]
                                     RedisStore.from_url(redis_test_url), None, None,
                                     RateLimiter(1_000, 1_000))  # type: ignore[arg-type]
            yield

        client = TestClient(TestServer(make_app(services, 1 << 20)))
        await client.start_server()
        try:
            for url in ("http://127.0.0.1:8080/hook", "http://localhost/hook",
                        "http://[::1]/hook", "http://10.0.0.7/hook",
                        "http://169.254.169.254/latest/meta-data/", "http://2130706433/"):
                response = await client.post("/v1/webhooks", json={"url": url},
                                             headers={"Authorization": f"Bearer {token}"})
                answer = await response.json()
                assert (response.status, answer["code"]) == (422, "target_not_allowed"), url
        finally:
            await client.close()
            await redis.aclose()

    asyncio.run(scenario())
