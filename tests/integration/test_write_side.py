"""The write side against the real broker: races, retries and exactly-once events."""

from __future__ import annotations

import asyncio
import collections
import dataclasses

import pytest

from broker.api.gateway import CommandGateway
from broker.domain.shard import Shard
from schemas.commands import ClaimTask, DepositFunds, PostTasks, TaskSpec
from schemas.envelope import CommandEnvelope
from schemas.events import TaskClaimed
from tests.live_write_side import settings_for, write_side


@pytest.fixture
def settings(kafka_bootstrap: str, redis_url: str, unique_name: str):
    return settings_for(kafka_bootstrap, redis_url, unique_name)


def envelope(command_id: str, actor: str, role: str, command) -> CommandEnvelope:
    return CommandEnvelope(command_id, actor, role, command_id, command)


def spec(assignments: int) -> TaskSpec:
    return TaskSpec(
        kind="image_labelling",
        reward=50_000,
        currency="EUR",
        estimated_seconds=30,
        assignments=assignments,
        payload={"img": "1.png"},
    )


async def with_gateway(settings, body):
    async with CommandGateway(settings) as gateway:
        return await body(gateway)


async def fund_and_post(gateway: CommandGateway, requester: str, batch: str, assignments: int):
    deposit = DepositFunds(requester, 10_000_000, "EUR")
    assert (await gateway.send(envelope(f"dep-{batch}", requester, "requester", deposit))).accepted
    post = PostTasks(requester, batch, (spec(assignments),))
    reply = await gateway.send(envelope(f"post-{batch}", requester, "requester", post))
    assert reply.accepted, reply
    return reply.result["task_ids"][0]


def test_fifty_workers_racing_for_three_assignments_get_exactly_three(settings) -> None:
    async def body(gateway: CommandGateway):
        task_id = await fund_and_post(gateway, "acme", "race", assignments=3)
        claims = [
            gateway.send(envelope(f"claim-{w}", f"w{w}", "worker", ClaimTask(task_id, f"w{w}")))
            for w in range(50)
        ]
        return task_id, await asyncio.gather(*claims)

    with write_side(settings) as side:
        task_id, replies = asyncio.run(with_gateway(settings, body))
        events = side.events()
    outcomes = collections.Counter(r.code for r in replies)
    assert outcomes == {"ok": 3, "no_free_assignment": 47}
    claimed = [e for e in events if isinstance(e.event, TaskClaimed) and e.event.task_id == task_id]
    assert len(claimed) == 3
    assert len({e.event.worker_id for e in claimed}) == 3


def test_a_retried_command_returns_the_same_reply_and_appends_nothing(settings) -> None:
    async def body(gateway: CommandGateway):
        task_id = await fund_and_post(gateway, "acme", "retry", assignments=2)
        claim = envelope("claim-once", "ana", "worker", ClaimTask(task_id, "ana"))
        first = await gateway.send(claim)
        second = await gateway.send(claim)
        return first, second

    with write_side(settings) as side:
        first, second = asyncio.run(with_gateway(settings, body))
        events = side.events()
    assert first.accepted and dataclasses.replace(second, replayed=False) == first
    assert second.replayed and not first.replayed
    assert [e.event_id for e in events].count(first.event_ids[0]) == 1
    assert sum(isinstance(e.event, TaskClaimed) for e in events) == 1


def test_the_log_rebuilds_aggregates_that_keep_every_invariant(settings) -> None:
    async def body(gateway: CommandGateway):
        task_id = await fund_and_post(gateway, "acme", "fold", assignments=5)
        await asyncio.gather(
            *(
                gateway.send(envelope(f"c{w}", f"w{w}", "worker", ClaimTask(task_id, f"w{w}")))
                for w in range(8)
            )
        )

    with write_side(settings) as side:
        asyncio.run(with_gateway(settings, body))
        events = side.events()
    shard = Shard()
    for event in events:
        assert shard.apply(event)
    assert shard.check_invariants() == []
    assert len(events) == len({e.event_id for e in events})
