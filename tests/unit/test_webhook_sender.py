"""The sender's loop against a real HTTP receiver on 127.0.0.1, an in-memory feed (the real
feed projection and reader over a MemoryStore) and an in-memory subscription store with
the Redis store's contract (a write is refused once the webhook changed since it was read).

Given events in an actor's feed and a webhook, when the receiver fails or is slow, then
what it receives, what is recorded, and where the webhook stands."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest
from aiohttp import web

from consumers.queries.feed import encode_cursor, latest_cursor, read_page
from consumers.stores.memory_store import MemoryStore
from consumers.stores.ops import Entry
from consumers.views import feed
from consumers.webhooks import attempt
from consumers.webhooks.schedule import Progress, RetryPolicy, enabled
from consumers.webhooks.sender import Sender, SenderConfig
from consumers.webhooks.subscription import Delivery, Webhook, new_secret
from runtime.clock import SystemClock
from schemas.envelope import EventEnvelope
from schemas.events import BatchPosted, FundsDeposited
from schemas.webhook_signature import verify_webhook

PARTITIONS = 2
POLICY = RetryPolicy(base_ms=10, cap_ms=40, max_failures=4)
DEADLINE_S = 20.0


class FakeStore:
    def __init__(self) -> None:
        self.hooks: dict[str, Webhook] = {}
        self.records: dict[str, list[Delivery]] = defaultdict(list)

    async def all_ids(self) -> list[str]:
        return sorted(self.hooks)

    async def get(self, webhook_id: str) -> Webhook | None:
        return self.hooks.get(webhook_id)

    async def get_many(self, ids: list[str]) -> list[Webhook | None]:
        return [self.hooks.get(i) for i in ids]

    async def save(self, hook: Webhook, progress: Progress,
                   deliveries: Sequence[Delivery] = ()) -> bool:  # fmt: skip
        current = self.hooks.get(hook.webhook_id)
        if current is None or current.rev != hook.rev:
            return False
        self.hooks[hook.webhook_id] = replace(current, progress=progress, rev=current.rev + 1)
        self.records[hook.webhook_id].extend(deliveries)
        return True


class NoWaker:  # the loops poll every poll_s instead
    def waiter(self, owner: str) -> asyncio.Event:
        return asyncio.Event()

    def forget(self, owner: str, woke: asyncio.Event) -> None: ...

    def wake_all(self) -> None: ...

    async def follow(self, owners: object) -> None: ...


def envelope(i: int, event: object, at: int = 1_765_000_000_000) -> EventEnvelope:
    return EventEnvelope(f"cmd{i}/0", "acme", i, at + i, f"cmd{i}", f"cmd{i}", f"cmd{i}",
                         "acme", event)  # fmt: skip


def fill(store: MemoryStore, events: list[tuple[int, EventEnvelope]]) -> None:
    """(partition, envelope) at increasing positions, folded by the feed view."""
    entries = [Entry("pw:feed:offsets", p, (10 + i) << 16, tuple(feed.project(env)))
               for i, (p, env) in enumerate(events)]  # fmt: skip
    store.apply(entries)


def deposits(n: int, start: int = 0) -> list[tuple[int, EventEnvelope]]:
    return [((start + i) % PARTITIONS, envelope(start + i, FundsDeposited("acme", 1_000, "EUR")))
            for i in range(n)]  # fmt: skip


class Receiver:
    """Answers `plan(n)` to the n-th request (0-based): a status, or a delay then 200."""

    def __init__(self, plan: Callable[[int], int | float] = lambda n: 200) -> None:
        self.plan, self.seen, self.bodies = plan, 0, []
        self.secret = ""
        self.last_at = 0.0  # monotonic instant of the last accepted delivery

    async def handle(self, request: web.Request) -> web.Response:
        n = self.seen
        self.seen += 1
        raw = await request.read()
        if self.secret:  # a webhook's receiver: every delivery is signed
            verify_webhook(self.secret, request.headers, raw, now=time.time())
        answer = self.plan(n)
        if isinstance(answer, float):
            await asyncio.sleep(answer)
            answer = 200
        if 200 <= answer < 300:
            self.bodies.append((request.headers["webhook-id"], raw))
            self.last_at = time.monotonic()
        return web.Response(status=answer, text="ok")

    def ids(self) -> list[str]:
        return [i for i, _ in self.bodies]


async def serve(receiver: Receiver) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/hook"


def hook(webhook_id: str, url: str, receiver: Receiver, types: tuple[str, ...] = ()) -> Webhook:
    """A webhook created before any event: its cursor is at the start of every partition."""
    receiver.secret = new_secret()
    start = encode_cursor([-1] * PARTITIONS)
    return Webhook(webhook_id, "acme", url, types, None, receiver.secret, 0, Progress(start))


async def run_until(store: FakeStore, feed_store: MemoryStore, done: Callable[[], bool],
                    timeout_ms: int = 2_000) -> None:  # fmt: skip
    config = SenderConfig(PARTITIONS, POLICY, allow_private=True, poll_s=0.02, refresh_s=0.05)
    client = attempt.session(timeout_ms, allow_private=True)
    sender = Sender(store, feed_store, client, NoWaker(), config, SystemClock(),
                    lambda at: 0.0)  # type: ignore[arg-type]
    stop = asyncio.Event()
    running = asyncio.create_task(sender.run(stop))
    try:
        began = time.monotonic()
        while not done():
            assert time.monotonic() - began < DEADLINE_S, "the sender did not get there"
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await running
        await client.close()


def expected_ids(feed_store: MemoryStore, types: frozenset[str] | None = None) -> list[str]:
    items, _, _ = read_page(feed_store, "acme", None, 1_000, PARTITIONS, types)
    return [item.id for item in items]


def test_failed_attempts_are_retried_in_order_then_every_event_arrives_once():
    async def scenario() -> None:
        feed_store = MemoryStore()
        fill(feed_store, deposits(30))
        receiver = Receiver(lambda n: 500 if n < 3 else 200)
        runner, url = await serve(receiver)
        store = FakeStore()
        store.hooks["wh_a"] = hook("wh_a", url, receiver)
        try:
            await run_until(store, feed_store, lambda: len(receiver.bodies) >= 30)
        finally:
            await runner.cleanup()
        assert receiver.ids() == expected_ids(feed_store)  # each once, in feed order
        records = store.records["wh_a"]
        assert [(r.status, r.http_status, r.attempt) for r in records[:4]] == [
            ("failed", 500, 1), ("failed", 500, 2), ("failed", 500, 3), ("delivered", 200, 4)]
        assert records[0].event_id == records[3].event_id == receiver.ids()[0]
        progress = store.hooks["wh_a"].progress
        assert (progress.status, progress.failures, progress.last_error) == ("enabled", 0, None)

    asyncio.run(scenario())


def test_a_typed_webhook_gets_only_its_types_and_its_cursor_passes_the_rest():
    async def scenario() -> None:
        feed_store = MemoryStore()
        events = deposits(10)
        events += [(i % PARTITIONS, envelope(100 + i, BatchPosted("acme", f"b{i}", 1, 10, "EUR")))
                   for i in range(5)]  # fmt: skip
        events += deposits(3, start=200)
        fill(feed_store, events)
        receiver = Receiver()
        runner, url = await serve(receiver)
        store = FakeStore()
        store.hooks["wh_t"] = hook("wh_t", url, receiver, types=("BatchPosted",))
        wanted = expected_ids(feed_store, frozenset({"BatchPosted"}))
        try:
            await run_until(store, feed_store, lambda: len(receiver.bodies) >= 5 and (
                store.hooks["wh_t"].progress.cursor == _end(feed_store)))
        finally:
            await runner.cleanup()
        assert receiver.ids() == wanted and len(wanted) == 5

    asyncio.run(scenario())


def _end(feed_store: MemoryStore) -> str:
    return latest_cursor(feed_store, "acme", PARTITIONS)


def test_disabled_after_max_failures_then_enabled_again_resumes_without_loss():
    async def scenario() -> None:
        feed_store = MemoryStore()
        fill(feed_store, deposits(12))
        healthy = False
        receiver = Receiver(lambda n: 200 if healthy else 503)
        runner, url = await serve(receiver)
        store = FakeStore()
        store.hooks["wh_d"] = hook("wh_d", url, receiver)
        try:
            await run_until(store, feed_store,
                            lambda: store.hooks["wh_d"].progress.status == "disabled")
            progress = store.hooks["wh_d"].progress
            assert progress.failures == POLICY.max_failures and "HTTP 503" in progress.last_error
            assert len(store.records["wh_d"]) == POLICY.max_failures and not receiver.bodies
            healthy = True
            current = store.hooks["wh_d"]
            store.hooks["wh_d"] = replace(current, progress=enabled(current.progress),
                                          rev=current.rev + 1)  # fmt: skip
            await run_until(store, feed_store, lambda: len(receiver.bodies) >= 12)
        finally:
            await runner.cleanup()
        assert receiver.ids() == expected_ids(feed_store)

    asyncio.run(scenario())


def test_a_cursor_the_feed_no_longer_holds_disables_with_the_reason():
    async def scenario() -> None:
        feed_store = MemoryStore()
        fill(feed_store, deposits(4))
        feed_store.data[f"{feed.feed_base('acme')}:floor"] = {"0": str(99 << 16)}
        receiver = Receiver()
        runner, url = await serve(receiver)
        store = FakeStore()
        store.hooks["wh_x"] = hook("wh_x", url, receiver)
        try:
            await run_until(store, feed_store,
                            lambda: store.hooks["wh_x"].progress.status == "disabled")
        finally:
            await runner.cleanup()
        assert "no longer holds" in store.hooks["wh_x"].progress.last_error
        assert not receiver.bodies

    asyncio.run(scenario())


def test_a_slow_endpoint_does_not_delay_another_webhook():
    async def scenario() -> None:
        feed_store = MemoryStore()
        fill(feed_store, deposits(5))
        slow, quick = Receiver(lambda n: 1.5), Receiver()
        slow_runner, slow_url = await serve(slow)
        quick_runner, quick_url = await serve(quick)
        store = FakeStore()
        store.hooks["wh_slow"] = hook("wh_slow", slow_url, slow)
        store.hooks["wh_quick"] = hook("wh_quick", quick_url, quick)
        began = time.monotonic()
        try:
            await run_until(store, feed_store, lambda: len(quick.bodies) >= 5,
                            timeout_ms=5_000)
        finally:
            await slow_runner.cleanup()
            await quick_runner.cleanup()
        took = quick.last_at - began
        assert took < 1.0, f"the quick webhook waited for the slow one ({took:.2f} s)"
        assert len(slow.bodies) <= 1

    asyncio.run(scenario())


def test_a_timeout_and_a_refused_connection_are_failures_with_a_reason():
    async def scenario() -> None:
        receiver = Receiver(lambda n: 1.0)
        runner, url = await serve(receiver)
        client = attempt.session(200, allow_private=True)
        try:
            timed_out = await attempt.post(client, url, b"{}", {}, allow_private=True)
            await runner.cleanup()
            refused = await attempt.post(client, url, b"{}", {}, allow_private=True)
            guarded = await attempt.post(client, url, b"{}", {}, allow_private=False)
        finally:
            await client.close()
        assert (timed_out.label, timed_out.http_status) == ("timeout", None)
        assert refused.label == "connection_error" and "connect" in refused.error
        assert guarded.label == "refused_target"

    asyncio.run(scenario())


@pytest.mark.parametrize("status", [301, 404, 500])
def test_anything_but_2xx_fails_and_redirects_are_not_followed(status: int):
    async def scenario() -> attempt.Outcome:
        async def handle(request: web.Request) -> web.Response:
            return web.Response(status=status, headers={"Location": "http://127.0.0.1:1/"})

        app = web.Application()
        app.router.add_post("/hook", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        client = attempt.session(2_000, allow_private=True)
        try:
            return await attempt.post(client, f"http://127.0.0.1:{port}/hook", b"{}", {}, True)
        finally:
            await client.close()
            await runner.cleanup()

    outcome = asyncio.run(scenario())
    assert (outcome.label, outcome.http_status, outcome.ok) == ("http_error", status, False)


def test_a_name_resolving_to_a_private_address_is_refused_at_connection_time():
    """The resolver checks the addresses the connection will use (DNS rebinding)."""

    async def scenario() -> attempt.Outcome:
        client = attempt.session(2_000, allow_private=False)
        try:
            return await attempt.post(client, "http://localhost:9/hook", b"{}", {}, False)
        finally:
            await client.close()

    outcome = asyncio.run(scenario())
    assert outcome.label == "refused_target" and "127.0.0.1" in outcome.error
