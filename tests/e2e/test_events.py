"""The event feed against the real stack: GET /v1/events pages and the SSE stream give each
tenant exactly its own events from the log, an SSE client cut off mid-stream and resumed
with Last-Event-ID loses and repeats nothing while work goes on, and every way of asking
for someone else's events is refused. Deadlines only, no timing assertions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from broker.client import Client
from consumers.views import feed
from runtime.settings import Settings
from testkit.stack_processes import PATIENCE_S, Stack, running_stack_on_a_free_db
from testkit.views_kit import read_log
from tests.faults.roles import kill9, restart

CANDIDATE_DBS = (11, 12, 14)
SPEC = {"kind": "image_labelling", "reward": 2_000, "currency": "EUR", "estimated_seconds": 30,
        "payload": {"img": "x.png"}}


@pytest.fixture(scope="module")
def stack(kafka_bootstrap, redis_url, tmp_path_factory) -> Iterator[Stack]:
    with running_stack_on_a_free_db(
            kafka_bootstrap, redis_url, tmp_path_factory.mktemp("events"), CANDIDATE_DBS,
            extra_env={"PIECEWORK_RATE_LIMIT": "100000", "PIECEWORK_RATE_BURST": "100000"},
    ) as running:
        yield running


def expected_ids(stack: Stack, kafka: str, actor: str) -> list[str]:
    """The actor's events, read from the log itself: what the feed must give, no more."""
    topic = Settings.from_env(stack.env).topics.events
    return [env.event_id for _, _, env in read_log(kafka, topic)
            if actor in feed.concerned(env.event) and env.event.__class__ not in feed.LEFT_OUT]


async def get_events(url: str, token: str, **params: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as s, s.get(f"{url}/v1/events", params=params,
                                                   headers=headers) as r:  # fmt: skip
        assert r.status == 200, await r.text()
        return await r.json()


async def page_all(url: str, token: str, after: str | None = None,
                   **query: str) -> tuple[list, str]:  # fmt: skip
    items: list[dict[str, Any]] = []
    while True:
        page = await get_events(url, token, **({"after": after} if after else {}), limit="7",
                                **query)  # fmt: skip
        items += page["items"]
        after = page["next_cursor"]
        if not page["has_more"]:
            return items, after


async def eventually_all(url: str, token: str, stack: Stack, kafka: str,
                         actor: str) -> list[dict]:  # fmt: skip
    """Page the feed until it holds every event of the actor the log holds."""
    deadline = time.monotonic() + PATIENCE_S
    while True:
        items, _ = await page_all(url, token)
        wanted = expected_ids(stack, kafka, actor)
        if sorted(i["id"] for i in items) == sorted(wanted):
            return items
        if time.monotonic() > deadline:
            missing = set(wanted) - {i["id"] for i in items}
            extra = {i["id"] for i in items} - set(wanted)
            raise AssertionError(f"{actor}: missing {sorted(missing)[:5]}, extra {extra}")
        await asyncio.sleep(0.5)


async def work(req: Client, workers: list[Client], batch: str, n: int,
               reject_every: int = 3) -> None:  # fmt: skip
    posted = await req.post_batch(batch, [SPEC] * n)
    for k, task_id in enumerate(posted["task_ids"]):
        worker = workers[k % len(workers)]
        deadline = time.monotonic() + PATIENCE_S
        while True:  # the task reaches the queue view a moment after it is posted
            try:
                claim = await worker.claim(task_id)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        sub = await worker.submit(claim["claim_id"], {"label": k})
        if k % reject_every == 0:
            await req.reject(sub["submission_id"], "blurry")
        else:
            await req.approve(sub["submission_id"])


def test_each_tenant_reads_exactly_its_own_events_from_the_log(stack: Stack, kafka_bootstrap):
    async def scenario() -> None:
        tag = uuid.uuid4().hex[:6]
        async with Client(stack.url, stack.operator_token) as op:
            tokens = {name: await op.create_actor(f"{name}-{tag}", role) for name, role in
                      (("acme", "requester"), ("rival", "requester"), ("ana", "worker"),
                       ("bo", "worker"))}  # fmt: skip
        acme, rival, ana, bo = (Client(stack.url, tokens[n], timeout=120, retries=8)
                                for n in ("acme", "rival", "ana", "bo"))  # fmt: skip
        async with acme, rival, ana, bo:
            await acme.deposit(10**9, "EUR")
            await rival.deposit(10**9, "EUR")
            await work(acme, [ana, bo], "a1", 6)
            await work(rival, [bo], "r1", 3)
            for name in ("acme", "rival", "ana", "bo"):
                items = await eventually_all(stack.url, tokens[name], stack, kafka_bootstrap,
                                             f"{name}-{tag}")  # fmt: skip
                assert len({i["id"] for i in items}) == len(items), "an event twice"
                assert all("answer" not in i["data"] for i in items)
            ana_items, _ = await page_all(stack.url, tokens["ana"])
            assert {i["type"] for i in ana_items} >= {"TaskClaimed", "WorkSubmitted",
                                                      "SubmissionApproved", "WorkerCredited"}
            assert not any("rival" in json.dumps(i) for i in ana_items)
            # An operator reads anyone's; the same events.
            as_operator, _ = await page_all(stack.url, stack.operator_token,
                                            actor_id=f"ana-{tag}")  # fmt: skip
            assert [i["id"] for i in as_operator] == [i["id"] for i in ana_items]
            # Filtered by type.
            paid, _ = await page_all(stack.url, tokens["acme"],
                                     types="SubmissionApproved,SubmissionRejected")
            assert sorted(i["type"] for i in paid) == ["SubmissionApproved"] * 4 + [
                "SubmissionRejected"] * 2

    asyncio.run(scenario())


async def read_sse(response: aiohttp.ClientResponse, want: int, seen: list[dict]) -> str | None:
    """Read frames into `seen` until it has `want` events; the last id read."""
    last, frame = None, {}
    deadline = time.monotonic() + PATIENCE_S
    while len(seen) < want:
        assert time.monotonic() < deadline, f"SSE: {len(seen)} of {want} events"
        line = (await asyncio.wait_for(response.content.readline(), PATIENCE_S)).decode()
        if line in ("\n", ""):
            if "data" in frame and frame.get("event") != "error":
                seen.append(json.loads(frame["data"]))
                last = frame["id"]
            assert frame.get("event") != "error", frame
            frame = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.rstrip("\n").partition(": ")
        frame[name] = value
    return last


def test_an_sse_client_cut_off_and_resumed_loses_and_repeats_nothing(stack: Stack,
                                                                     kafka_bootstrap):
    async def scenario() -> None:
        tag = uuid.uuid4().hex[:6]
        async with Client(stack.url, stack.operator_token) as op:
            acme_token = await op.create_actor(f"sse-{tag}", "requester")
            workers = [await op.create_actor(f"ssew{i}-{tag}", "worker") for i in range(2)]
        acme = Client(stack.url, acme_token, timeout=120, retries=8)
        wcs = [Client(stack.url, w, timeout=120, retries=8) for w in workers]
        headers = {"Authorization": f"Bearer {acme_token}", "Accept": "text/event-stream"}
        async with acme, wcs[0], wcs[1], aiohttp.ClientSession() as http:
            await acme.deposit(10**9, "EUR")
            deposit = await eventually_all(stack.url, acme_token, stack, kafka_bootstrap,
                                           f"sse-{tag}")  # fmt: skip
            start = await get_events(stack.url, acme_token, after="latest")  # after the deposit
            producer = asyncio.create_task(work(acme, wcs, "s1", 12))
            seen: list[dict] = []
            cuts = 0
            last = start["next_cursor"]
            while not producer.done() or cuts < 3:
                resume = {"Last-Event-ID": last}
                async with http.get(f"{stack.url}/v1/events", headers={**headers, **resume},
                                    timeout=aiohttp.ClientTimeout(total=None)) as r:
                    assert r.status == 200, await r.text()
                    assert r.headers["Content-Type"].startswith("text/event-stream")
                    got = await read_sse(r, len(seen) + 3, seen)
                    last = got or last
                    r.connection.transport.abort()  # cut off, no goodbye
                cuts += 1
            await producer
            wanted = expected_ids(stack, kafka_bootstrap, f"sse-{tag}")
            deadline = time.monotonic() + PATIENCE_S
            while len(seen) < len(wanted) - 1:  # the deposit came before `latest`
                assert time.monotonic() < deadline
                async with http.get(f"{stack.url}/v1/events",
                                    headers={**headers, "Last-Event-ID": last}) as r:
                    last = await read_sse(r, len(wanted) - 1, seen) or last
                    r.connection.transport.abort()
            ids = [i["id"] for i in seen]
            assert len(ids) == len(set(ids)), "an event came twice"
            order = {event_id: n for n, event_id in enumerate(wanted)}  # log order per partition
            for p in {i["partition"] for i in seen}:
                got = [order[i["id"]] for i in seen if i["partition"] == p]
                assert got == sorted(got), f"partition {p}: out of log order"
            assert set(wanted) - set(ids) == {deposit[0]["id"]}, "only the deposit precedes"
            assert cuts >= 3

    asyncio.run(scenario())


def test_nobody_reads_another_tenants_events(stack: Stack):
    async def scenario() -> None:
        tag = uuid.uuid4().hex[:6]
        async with Client(stack.url, stack.operator_token) as op:
            acme = await op.create_actor(f"iso-{tag}", "requester")
            ana = await op.create_actor(f"isow-{tag}", "worker")

        async def status(token: str, params: dict[str, str],
                         accept: str = "application/json") -> tuple[int, dict]:  # fmt: skip
            headers = {"Authorization": f"Bearer {token}", "Accept": accept}
            async with aiohttp.ClientSession() as s, s.get(
                    f"{stack.url}/v1/events", params=params, headers=headers) as r:
                return r.status, await r.json(content_type=None)

        assert (await status(acme, {"actor_id": f"isow-{tag}"}))[0] == 403
        assert (await status(ana, {"actor_id": f"iso-{tag}"}))[0] == 403
        assert (await status(stack.operator_token, {}))[1]["code"] == "actor_id_required"
        assert (await status(acme, {"types": "NoSuchEvent"}))[0] == 422
        assert (await status(acme, {"after": "v1.zz.-.-.-.-.-.-.-.-.-"}))[1]["code"] == \
            "bad_cursor"
        assert (await status(acme, {"limit": "100000"}))[0] == 422
        assert (await status(acme, {}, accept="text/html"))[0] == 406
        code, body = await status(acme, {"after": "nonsense"}, accept="text/event-stream")
        assert (code, body["code"]) == (422, "bad_cursor")  # a JSON error, not a stream
        assert (await status("not-a-token", {}))[0] == 401

    asyncio.run(scenario())


def test_the_client_follows_through_an_api_killed_and_restarted(stack: Stack, kafka_bootstrap):
    """`Client.follow_events` holds an SSE stream while the API process is SIGKILLed and
    started again: it reconnects from its last cursor, and every event comes once."""

    async def scenario() -> None:
        tag = uuid.uuid4().hex[:6]
        async with Client(stack.url, stack.operator_token) as op:
            token = await op.create_actor(f"fol-{tag}", "requester")
            worker = await op.create_actor(f"folw-{tag}", "worker")
        async with Client(stack.url, token, timeout=120, retries=20) as acme, \
                Client(stack.url, worker, timeout=120, retries=20) as ana:
            await acme.deposit(10**9, "EUR")
            seen: list[dict] = []

            async def follow() -> None:
                async for item in acme.follow_events(after=None):
                    seen.append(item)

            follower = asyncio.create_task(follow())
            await work(acme, [ana], "f1", 4)
            wanted = expected_ids(stack, kafka_bootstrap, f"fol-{tag}")
            await until_seen(seen, len(wanted))
            kill9(stack, "api")
            await asyncio.sleep(1)
            restart(stack, "api")
            await work(acme, [ana], "f2", 4)
            wanted = expected_ids(stack, kafka_bootstrap, f"fol-{tag}")
            await until_seen(seen, len(wanted))
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            ids = [i["id"] for i in seen]
            assert len(ids) == len(set(ids)), "an event came twice"
            assert sorted(ids) == sorted(wanted)

    asyncio.run(scenario())


async def until_seen(seen: list, count: int) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while len(seen) < count:
        assert time.monotonic() < deadline, f"followed {len(seen)} of {count} events"
        await asyncio.sleep(0.2)
