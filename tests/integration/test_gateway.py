"""The API's command gateway on the real broker: where commands land, timeouts, errors."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaError

from broker.api.gateway import CommandGateway, ReplyTimeout
from broker.kafka_io import read_topic
from deploy.topics import create_topics
from schemas.commands import DepositFunds, PostTasks, TaskSpec
from schemas.envelope import CommandEnvelope
from tests.live_write_side import settings_for, write_side
from tests.unit.test_gateway_partitioner import java_partition


@pytest.fixture
def settings(kafka_bootstrap: str, redis_url: str, unique_name: str):
    return settings_for(kafka_bootstrap, redis_url, unique_name)


def deposit(command_id: str, requester: str) -> CommandEnvelope:
    return CommandEnvelope(command_id, requester, "requester", command_id,
                           DepositFunds(requester, 1_000, "EUR"))  # fmt: skip


def test_commands_land_on_the_partition_their_key_hashes_to(settings) -> None:
    requesters = [f"r{i}" for i in range(16)]

    async def body(gateway: CommandGateway) -> None:
        replies = await asyncio.gather(*(gateway.send(deposit(f"d-{r}", r)) for r in requesters))
        assert all(reply.accepted for reply in replies)

    with write_side(settings):
        asyncio.run(_with_gateway(settings, body))
    records = read_topic(settings.kafka, settings.topics.commands)
    landed = {r.key.decode(): r.partition for r in records}
    assert landed == {r: java_partition(r.encode(), settings.partitions) for r in requesters}


def test_no_reply_in_time_is_a_reply_timeout(settings) -> None:
    create_topics(settings.kafka, settings.topics.creation_configs(), settings.partitions)

    async def body(gateway: CommandGateway) -> None:  # no processor: nobody answers
        with pytest.raises(ReplyTimeout):
            await gateway.send(deposit("d-1", "acme"), timeout=0.5)
        assert not gateway._pending

    asyncio.run(_with_gateway(settings, body))


def test_a_record_the_broker_refuses_fails_the_call_at_once(settings) -> None:
    create_topics(settings.kafka, settings.topics.creation_configs(), settings.partitions)
    huge = TaskSpec(kind="survey", reward=1, currency="EUR", estimated_seconds=1,
                    payload={"blob": "x" * 2_000_000})  # fmt: skip
    command = PostTasks("acme", "b1", (huge,))

    async def body(gateway: CommandGateway) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(KafkaError):  # over the broker's 1 MiB, under max_request_size
            await gateway.send(CommandEnvelope("p-1", "acme", "requester", "p-1", command),
                               timeout=20)  # fmt: skip
        assert loop.time() - began < 10
        assert not gateway._pending

    asyncio.run(_with_gateway(settings, body))


async def _with_gateway(settings, body) -> None:  # type: ignore[no-untyped-def]
    async with CommandGateway(settings) as gateway:
        await body(gateway)
