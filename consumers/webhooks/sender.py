"""The sender: one loop per webhook, reading its owner's feed from the webhook's cursor
and POSTing each event in order (head of line: an event is retried until it is delivered
or the webhook is disabled, and nothing after it is sent before).

Loops are independent asyncio tasks, so a slow or dead endpoint delays only its own
webhook. Successes move the cursor and append their delivery records in one Redis script
(store.save); a crash between a receiver's 2xx and that script re-sends those events, with
the same webhook-ids. The feed is read with the synchronous view reader in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import aiohttp

from consumers.queries.feed import BadCursor, CursorExpired, FeedItem, read_page
from consumers.queries.feed_waker import FeedWaker
from consumers.stores.store import Reader
from consumers.webhooks import attempt, payload, schedule
from consumers.webhooks.schedule import RetryPolicy
from consumers.webhooks.store import WebhookStore
from consumers.webhooks.subscription import Delivery, Webhook
from runtime import metrics
from runtime.clock import Clock

log = logging.getLogger(__name__)
COMMIT_S = 1.0  # longest a delivered event waits for its cursor and record to be saved


@dataclass(frozen=True, slots=True)
class SenderConfig:
    partitions: int
    policy: RetryPolicy
    allow_private: bool
    poll_s: float  # re-read an idle feed this often if no wake-up came
    page: int = 50  # events read per feed page
    refresh_s: float = 1.0  # how soon a new, deleted or enabled-again webhook is seen
    grace_s: float = 5.0  # on stop, attempts in flight get this long to finish
    read_threads: int = 32  # feed reads in flight at once


class Sender:
    def __init__(self, store: WebhookStore, feed: Reader, client: aiohttp.ClientSession,
                 waker: FeedWaker, config: SenderConfig, wall: Clock,
                 event_age_s: Callable[[int], float],
                 rand: Callable[[], float] = random.random) -> None:  # fmt: skip
        """`wall` times attempts and backoff; `event_age_s(at)` is how old an event of
        instant `at` is (the market clock may run faster than the wall)."""
        self.store, self.feed, self.client, self.waker = store, feed, client, waker
        self.config, self.wall, self.event_age_s, self.rand = config, wall, event_age_s, rand
        self.loops: dict[str, asyncio.Task] = {}
        self.stopping = False
        # Feed reads block a thread for a Redis round trip each: the default pool (a few
        # threads) queued them once dozens of webhooks were busy.
        self.readers = ThreadPoolExecutor(config.read_threads, thread_name_prefix="feed-read")

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.refresh()
            except Exception:  # Redis away: the loops wait, the next refresh retries
                log.exception("webhook refresh failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.refresh_s)
        await self.shutdown()

    async def refresh(self) -> None:
        """Start a loop for each new webhook; follow the feeds of the enabled ones."""
        ids = await self.store.all_ids()
        hooks = [h for h in await self.store.get_many(ids) if h is not None]
        for hook in hooks:
            running = self.loops.get(hook.webhook_id)
            if running is None or running.done():
                self.loops[hook.webhook_id] = asyncio.create_task(
                    self._loop(hook.webhook_id, hook.owner), name=f"webhook {hook.webhook_id}")
        for webhook_id in set(self.loops) - {h.webhook_id for h in hooks}:
            if self.loops[webhook_id].done():
                del self.loops[webhook_id]
        metrics.WEBHOOKS_DISABLED.set(sum(h.progress.status == "disabled" for h in hooks))
        await self.waker.follow({h.owner for h in hooks if h.progress.status == "enabled"})

    async def shutdown(self) -> None:
        """Let attempts in flight end and be recorded, then stop every loop."""
        self.stopping = True
        self.waker.wake_all()
        loops = [t for t in self.loops.values() if not t.done()]
        if loops:
            _, late = await asyncio.wait(loops, timeout=self.config.grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self.readers.shutdown(wait=False)

    async def _loop(self, webhook_id: str, owner: str) -> None:
        woke = self.waker.waiter(owner)
        try:
            while not self.stopping:
                try:
                    wait = await self._step(webhook_id, woke)
                except Exception:  # Redis away or a bug: log, back off, go on
                    log.exception("webhook %s: step failed", webhook_id)
                    wait = self.config.poll_s
                if wait is None:
                    return
                if wait > 0 and not self.stopping:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woke.wait(), wait)
        finally:
            self.waker.forget(owner, woke)

    async def _step(self, webhook_id: str, woke: asyncio.Event) -> float | None:
        """Deliver what is due; seconds to wait before the next step, None once deleted."""
        hook = await self.store.get(webhook_id)
        if hook is None:
            return None
        now = self.wall.now_ms()
        if not schedule.due(hook.progress, now):
            # Disabled, or backing off: feed wake-ups do not matter until it is due.
            later_s = (hook.progress.next_at - now) / 1000
            if hook.progress.status == "disabled" or later_s > self.config.refresh_s:
                later_s = self.config.refresh_s
            await asyncio.sleep(later_s)
            return 0
        woke.clear()  # before the read: a wake-up during it is not lost
        cursor = hook.progress.cursor
        try:
            items, after, more = await asyncio.get_running_loop().run_in_executor(
                self.readers, read_page, self.feed, hook.owner, cursor, self.config.page,
                self.config.partitions, hook.types)
        except (CursorExpired, BadCursor) as exc:
            log.warning("webhook %s disabled: %s", webhook_id, exc)
            await self.store.save(hook, schedule.fell_behind(
                hook.progress, f"the feed no longer holds the next events: {exc}"))
            return 0
        if not items:
            if after != cursor:
                await self.store.save(hook, schedule.skipped(hook.progress, after))
            return 0 if more else self.config.poll_s
        await self._deliver(hook, items, after)
        return 0

    async def _deliver(self, hook: Webhook, items: list[FeedItem], after: str) -> None:
        """Send `items` in order until one fails, the webhook changes, or a stop.

        Successes are saved together (cursor and records in one script) at the end of the
        page, at a failure, or every COMMIT_S: one Redis round trip per page instead of per
        event, the chain that bounds one webhook's throughput. A crash re-sends what was
        delivered since the last save, at most a page or COMMIT_S of deliveries."""
        progress, done = hook.progress, list[Delivery]()
        last_save = time.monotonic()
        try:
            for i, item in enumerate(items):
                if self.stopping:
                    return
                outcome = await self._post(hook, item)
                now = self.wall.now_ms()
                done.append(Delivery(item.id, item.type, progress.attempts + 1,
                                     "delivered" if outcome.ok else "failed",
                                     outcome.http_status, outcome.error, now,
                                     outcome.latency_ms))  # fmt: skip
                metrics.WEBHOOK_DELIVERIES.labels(outcome.label).inc()
                if not outcome.ok:
                    progress = schedule.failed(progress, outcome.error or outcome.label, now,
                                               self.rand(), self.config.policy)  # fmt: skip
                    break
                metrics.WEBHOOK_LATENCY.observe(max(0.0, self.event_age_s(item.at)))
                # Past the last item, the page's cursor also skips the types not wanted.
                progress = schedule.delivered(progress, after if i == len(items) - 1
                                              else item.cursor)  # fmt: skip
                if time.monotonic() - last_save >= COMMIT_S:
                    if not await self.store.save(hook, progress, done):
                        done = []  # enabled again, deleted or re-created: read it afresh
                        return
                    hook, done = replace(hook, progress=progress, rev=hook.rev + 1), []
                    last_save = time.monotonic()
        finally:
            if done and await self.store.save(hook, progress, done) and (
                    progress.status == "disabled"):  # fmt: skip
                log.warning("webhook %s disabled: %s", hook.webhook_id, progress.last_error)

    async def _post(self, hook: Webhook, item: FeedItem) -> attempt.Outcome:
        body = payload.body(item.id, item.type, item.at, item.partition, item.position,
                            item.data)  # fmt: skip
        headers = payload.headers(hook.secret, item.id, self.wall.now_ms() // 1000, body)
        return await attempt.post(self.client, hook.url, body, headers, self.config.allow_private)
