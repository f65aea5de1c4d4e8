"""The webhooks role (`piecework run webhooks`): wires consumers.webhooks.sender to Redis,
the feed and an HTTP client, and runs it until SIGTERM or SIGINT.

Run one instance per deployment (`piecework serve` does): two would both deliver, which
at-least-once allows but receivers would see twice as many duplicates. Its /metrics is
on PIECEWORK_METRICS_PORT + 300 (9600) for instance 0, next to the timers' + 200.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from prometheus_client import start_http_server
from redis.asyncio import Redis

from consumers.queries.feed_waker import FeedWaker
from consumers.stores.redis_store import RedisStore
from consumers.webhooks import attempt
from consumers.webhooks.schedule import RetryPolicy
from consumers.webhooks.sender import Sender, SenderConfig
from consumers.webhooks.store import WebhookStore
from runtime.clock import SystemClock
from runtime.metrics_roles import role_registry
from runtime.settings import Settings

log = logging.getLogger(__name__)
METRICS_OFFSET = 300


def metrics_port(settings: Settings, instance: str) -> int | None:
    base = settings.metrics_port
    if base is None or instance != "0" or base + METRICS_OFFSET > 65535:
        return None
    return base + METRICS_OFFSET


def sender_config(settings: Settings) -> SenderConfig:
    policy = RetryPolicy(settings.webhook_retry_base_ms, settings.webhook_retry_cap_ms,
                         settings.webhook_max_failures)  # fmt: skip
    return SenderConfig(settings.partitions, policy, settings.webhook_allow_private,
                        settings.webhook_poll_ms / 1000)  # fmt: skip


def run_webhooks(settings: Settings, instance: str = "0") -> None:
    port = metrics_port(settings, instance)
    if port is not None:
        try:
            start_http_server(port, addr=settings.metrics_host,
                              registry=role_registry("webhooks"))
            log.info("metrics of webhooks on http://%s:%s/metrics", settings.metrics_host, port)
        except OSError as exc:  # observability, not correctness: run on
            log.error("metrics of webhooks not served on port %s: %s", port, exc)
    asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    redis = Redis.from_url(settings.redis, decode_responses=True)
    client = attempt.session(settings.webhook_timeout_ms, settings.webhook_allow_private)
    waker = FeedWaker(redis)
    market = settings.clock()
    speed = settings.clock_speed

    def event_age_s(at: int) -> float:
        return (market.now_ms() - at) / 1000 / speed

    sender = Sender(WebhookStore(redis), RedisStore.from_url(settings.redis), client, waker,
                    sender_config(settings), SystemClock(), event_age_s)  # fmt: skip
    log.info("webhook sender running (retry base %s ms, cap %s ms, disabled after %s)",
             settings.webhook_retry_base_ms, settings.webhook_retry_cap_ms,
             settings.webhook_max_failures)  # fmt: skip
    try:
        await sender.run(stop)
    finally:
        await waker.close()
        await client.close()
        await redis.aclose()
    log.info("webhook sender stopped")
