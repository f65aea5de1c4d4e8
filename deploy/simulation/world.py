"""What the simulated population shares: clients, the tasks it posted and the work awaiting
review. None of it is broker state: it is what these requesters and workers would know
from their own screens."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from broker.client import ApiError
from deploy.simulation.kinds import PlannedTask
from deploy.simulation.plan import Plan
from deploy.simulation.summary import Summary, TrackedClient
from schemas.ids import requester_of_task

log = logging.getLogger(__name__)
TASK_LOOKUP_WALL_S = 2.0


@dataclass(frozen=True, slots=True)
class Posted:
    requester_id: str
    task: PlannedTask


@dataclass(frozen=True, slots=True)
class Submitted:
    submission_id: str
    task_id: str
    worker_id: str
    reward: int


async def attempt(call: Awaitable[Any]) -> tuple[Any, str | None]:
    """(result, None) or (None, code). The TrackedClient has already counted the failure."""
    try:
        return await call, None
    except ApiError as exc:
        return None, exc.code if exc.status < 500 else "server_error"
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return None, "server_error"


class World:
    def __init__(self, plan: Plan, url: str, clock_speed: float, summary: Summary) -> None:
        self.plan = plan
        self.url = url
        self.speed = clock_speed
        self.summary = summary
        self.clients: dict[str, TrackedClient] = {}
        self.tasks: dict[str, Posted] = {}
        self.reviews: dict[str, asyncio.Queue[Submitted]] = {
            r.requester_id: asyncio.Queue() for r in plan.requesters
        }
        self.workers = {w.worker_id: w for w in plan.workers}
        self.started = time.monotonic()
        self._background: set[asyncio.Task[Any]] = set()
        self._streams: dict[str, random.Random] = {}

    def rng(self, stream: str) -> random.Random:
        """One persistent decision stream per actor (or purpose), seeded from the plan."""
        if stream not in self._streams:
            self._streams[stream] = self.plan.rng_for(stream)
        return self._streams[stream]

    async def open_client(self, actor_id: str, token: str) -> TrackedClient:
        client = TrackedClient(self.url, token, self.summary)
        self.clients[actor_id] = await client.__aenter__()
        return client

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await asyncio.gather(*(c.close() for c in self.clients.values()))

    async def pause(self, virtual_s: float, floor: float = 0.0, cap: float | None = None) -> None:
        """Sleep `virtual_s` of marketplace time, optionally bounded in wall seconds."""
        wall = max(floor, virtual_s / self.speed)
        await asyncio.sleep(wall if cap is None else min(cap, wall))

    async def until(self, virtual_s: float) -> None:
        await asyncio.sleep(max(0.0, self.started + virtual_s / self.speed - time.monotonic()))

    def later(self, virtual_s: float, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` after a virtual delay, without holding up the caller."""

        async def run() -> None:
            await self.pause(virtual_s)
            await self.guarded(action)

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def guarded(self, action: Callable[[], Awaitable[None]]) -> None:
        """A simulator bug is counted and logged, never allowed to stop the run."""
        try:
            await action()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("simulation step failed")
            self.summary.errors[f"simulator:{type(exc).__name__}"] += 1
            await asyncio.sleep(0.5)

    async def task(self, task_id: str) -> Posted | None:
        """The posted task behind a claim, or None for another run's task. The queue view
        may index our task before its poster has read the reply: wait a moment for it."""
        if requester_of_task(task_id) not in self.reviews:
            return None
        deadline = time.monotonic() + TASK_LOOKUP_WALL_S
        while task_id not in self.tasks and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.tasks.get(task_id)
