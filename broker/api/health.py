"""/livez, /readyz (and /healthz, kept as /livez's old name): the API's probes.

Liveness looks at nothing but the process, so a Kafka outage never gets the API killed and
restarted in a loop. Readiness asks the three things a request needs: Kafka answers (the
events log's end offsets), Redis answers (PING), and the views are no further behind the
log than PIECEWORK_READY_MAX_LAG records (their positions are stored in Redis with their
data, consumers/engine/view_position.py). Probes need no token and are not rate limited,
so one answer is reused for a second: a flood of probes costs one check a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from redis.asyncio import Redis

from broker.api.resources import Live, Ready, ReadyCheck
from broker.api.responses import reply
from broker.api.routes import Route
from consumers.stores.ops import offsets_key
from consumers.views.registry import BY_NAME
from runtime.settings import Settings
from schemas.positions import offset_of

log = logging.getLogger(__name__)
CHECK_TIMEOUT_S = 3.0
REUSE_S = 1.0


def views_lag(ends: Mapping[int, int], starts: Mapping[int, int],
              stored: list[Mapping[str, str]]) -> int:  # fmt: skip
    """Records of the events log the slowest view has not applied, summed over partitions.

    A view stores the position of the last event it applied per partition; a partition it
    stored nothing for is behind by everything from the log start. The record holding
    that last event counts as read (positions: schemas/positions.py)."""
    total = 0
    for partition, end in ends.items():
        done = starts.get(partition, 0)
        positions = [view.get(str(partition)) for view in stored]
        if stored and all(p is not None for p in positions):
            done = max(done, min(offset_of(int(p)) for p in positions) + 1)
        total += max(end - done, 0)
    return total


class Readiness:
    """The checks, with a Kafka consumer of its own (no group) made on first use."""

    def __init__(self, settings: Settings, redis: Redis) -> None:
        self.settings = settings
        self.redis = redis
        self._consumer: AIOKafkaConsumer | None = None
        self._last: tuple[float, Ready] | None = None
        self._lock = asyncio.Lock()

    async def ready(self) -> Ready:
        async with self._lock:
            now = time.monotonic()
            if self._last is None or now - self._last[0] >= REUSE_S:
                self._last = (now, await self._check())
            return self._last[1]

    async def _check(self) -> Ready:
        offsets, stored = await asyncio.gather(
            self._guarded(self._log_offsets()), self._guarded(self._view_positions()))
        kafka = _outcome("kafka", offsets, "the events log's end offsets read")
        redis = _outcome("redis", stored, "PING answered")
        if isinstance(offsets, Exception) or isinstance(stored, Exception):
            lag = ReadyCheck(name="views_lag", ok=False, lag=None,
                             detail="unknown: needs both Kafka and Redis")  # fmt: skip
        else:
            behind = views_lag(offsets[0], offsets[1], stored)
            limit = self.settings.ready_max_lag
            lag = ReadyCheck(name="views_lag", ok=behind <= limit, lag=behind,
                             detail=f"{behind} records behind (at most {limit})")  # fmt: skip
        checks = [kafka, redis, lag]
        failing = [c.name for c in checks if not c.ok]
        return Ready(ready=not failing, not_ready=failing, checks=checks)

    async def _guarded(self, work):
        try:
            return await asyncio.wait_for(work, CHECK_TIMEOUT_S)
        except Exception as exc:  # any failure is "not ready", with its name as the reason
            return exc

    async def _log_offsets(self) -> tuple[dict[int, int], dict[int, int]]:
        try:
            consumer = await self._started()
            topic = self.settings.topics.events
            partitions = await _fetch(consumer, topic)
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            ends = await consumer.end_offsets(tps)  # read_committed: the last stable offset
            starts = await consumer.beginning_offsets(tps)
        except BaseException:
            await self.close()  # a fresh client next time: this one may be wedged
            raise
        return ({tp.partition: o for tp, o in ends.items()},
                {tp.partition: o for tp, o in starts.items()})  # fmt: skip

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.settings.kafka, client_id="piecework-api-ready",
                group_id=None, enable_auto_commit=False, isolation_level="read_committed",
                request_timeout_ms=int(CHECK_TIMEOUT_S * 1000) + 1000)  # fmt: skip
            self._consumer = consumer
            await consumer.start()
        return self._consumer

    async def _view_positions(self) -> list[Mapping[str, str]]:
        await self.redis.ping()
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in BY_NAME:
                pipe.hgetall(offsets_key(name))
            found = await pipe.execute()
        return [{_text(k): _text(v) for k, v in h.items()} for h in found]

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):  # a broken client: nothing left to do
                await consumer.stop()


async def _fetch(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    # A metadata request (the broker answers); the consumer caches only what it subscribed
    # to, and aiokafka has no public call for another topic's partitions.
    cluster = await consumer._client.fetch_all_metadata()
    partitions = cluster.partitions_for_topic(topic)
    if not partitions:
        raise LookupError(f"topic {topic} does not exist")
    return partitions


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _outcome(name: str, result: object, ok_detail: str) -> ReadyCheck:
    if isinstance(result, Exception):
        # The probe answers anyone: the error's kind only, its text (addresses) in the log.
        log.warning("readiness: %s not ready: %r", name, result)
        detail = f"no answer ({type(result).__name__})"
        return ReadyCheck(name=name, ok=False, lag=None, detail=detail)  # type: ignore[arg-type]
    return ReadyCheck(name=name, ok=True, lag=None, detail=ok_detail)  # type: ignore[arg-type]


READINESS = web.AppKey("readiness", Readiness)


async def livez(request: web.Request) -> web.Response:
    return reply(Live(live=True))


async def readyz(request: web.Request) -> web.Response:
    found = await request.app[READINESS].ready()
    return reply(found, status=200 if found.ready else 503)


# Described, yet served outside the guard: a probe needs no token and is never limited.
PROBES = (
    Route("GET", "/livez", livez, "Liveness: the API process answers (nothing else checked)",
          (), responses={200: "alive"}, out=Live),
    Route("GET", "/readyz", readyz, "Readiness: Kafka and Redis answer, the views keep up",
          (), responses={200: "ready", 503: "not ready: `not_ready` names the failing checks"},
          out=Ready),
)  # fmt: skip


def add_probes(app: web.Application) -> None:
    for probe in PROBES:
        app.router.add_get(probe.path, probe.handler)
