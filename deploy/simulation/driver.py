"""Play a Plan against a running broker: create the actors, fund them, run every loop for
the run's wall-clock duration, then stop them all and return the Summary."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from deploy.simulation import actors, wages
from deploy.simulation.plan import Plan
from deploy.simulation.summary import Summary
from deploy.simulation.world import World

SETUP_CONCURRENCY = 16


class SetupError(Exception):
    """The marketplace could not be set up (bad token, API down): nothing was simulated."""


async def _gather_limited(calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


async def _setup(world: World, operator_token: str) -> None:
    plan = world.plan
    operator = await world.open_client(actors.OPERATOR, operator_token)
    people = [(r.requester_id, "requester", ()) for r in plan.requesters]
    people += [(w.worker_id, "worker", w.qualifications) for w in plan.workers]
    try:
        tokens = await _gather_limited(
            [lambda p=p: operator.create_actor(*p) for p in people])
        for (actor_id, _, _), token in zip(people, tokens, strict=True):
            await world.open_client(actor_id, token)
        await _gather_limited([
            lambda r=r: world.clients[r.requester_id].deposit(
                plan.deposit_for(r.requester_id), r.currency)
            for r in plan.requesters
        ])
    except Exception as exc:
        raise SetupError(f"setting up the marketplace failed: {exc}") from exc


def _loops(world: World) -> list[Awaitable[None]]:
    plan = world.plan
    loops: list[Awaitable[None]] = [actors.payouts(world)]
    for r in plan.requesters:
        loops.append(actors.poster(world, r, [b for b in plan.batches
                                              if b.requester_id == r.requester_id]))
        loops.append(actors.reviewer(world, r))
    loops += [actors.worker(world, w) for w in plan.workers]
    return loops


async def simulate(
    plan: Plan,
    url: str,
    operator_token: str,
    clock_speed: float,
    duration_s: float,
    summary: Summary | None = None,
) -> Summary:
    """Run for `duration_s` wall seconds; `summary` may be passed in to watch it live."""
    summary = summary or Summary(plan.seed, duration_s, clock_speed, len(plan.requesters),
                                 len(plan.workers))
    summary.split.adopt(plan)
    world = World(plan, url, clock_speed, summary)
    try:
        await _setup(world, operator_token)
        world.started = began = time.monotonic()
        running = [asyncio.create_task(loop) for loop in _loops(world)]
        done, _ = await asyncio.wait(running, timeout=duration_s,
                                     return_when=asyncio.FIRST_EXCEPTION)
        summary.elapsed_s = time.monotonic() - began
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for task in done:  # a loop that died early is a simulator bug: say so
            if not task.cancelled() and task.exception() is not None:
                summary.errors[f"simulator:{type(task.exception()).__name__}"] += 1
        await wages.collect(world)
    finally:
        await world.close()
    return summary

