"""The API's command gateway on the real broker: where commands land, timeouts, errors."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaError
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from broker.api.gateway import CommandGateway, CommandTooLarge, ReplyTimeout
from deploy.topics import create_topics
from runtime.kafka_io import read_topic
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


def test_a_command_over_the_record_limit_is_refused_before_it_is_sent(settings) -> None:
    create_topics(settings.kafka, settings.topics.creation_configs(), settings.partitions)
    huge = TaskSpec(kind="survey", reward=1, currency="EUR", estimated_seconds=1,
                    payload={"blob": "x" * 2_000_000})  # fmt: skip
    command = PostTasks("acme", "b1", (huge,))

    async def body(gateway: CommandGateway) -> None:
        with pytest.raises(CommandTooLarge):
            await gateway.send(CommandEnvelope("p-1", "acme", "requester", "p-1", command))
        assert not gateway._pending

    asyncio.run(_with_gateway(settings, body))


def test_a_record_the_broker_refuses_fails_the_call_and_wedges_nothing(settings) -> None:
    """On 4237ba0 every later command to that partition failed OutOfOrderSequenceNumber
    until the API restarted: the idempotent producer is now replaced."""
    blob = TaskSpec(kind="survey", reward=1, currency="EUR", estimated_seconds=1,
                    payload={"blob": "x" * 100_000})  # fmt: skip
    command = PostTasks("acme", "b1", (blob,))

    async def body(gateway: CommandGateway) -> None:
        loop = asyncio.get_running_loop()
        assert (await gateway.send(deposit("d-first", "acme"), timeout=60)).accepted
        began = loop.time()
        with pytest.raises(KafkaError):  # under piecework's limit, over this topic's
            await gateway.send(CommandEnvelope("p-1", "acme", "requester", "p-1", command),
                               timeout=20)  # fmt: skip
        assert loop.time() - began < 10
        assert not gateway._pending
        # The same partition (same key) answers again, without a restart.
        deadline = loop.time() + 120
        for attempt in range(1_000):
            try:
                reply = await gateway.send(deposit(f"d-{attempt}", "acme"), timeout=20)
                break
            except KafkaError:
                assert loop.time() < deadline, "the partition stayed wedged"
                await asyncio.sleep(0.2)
        assert reply.accepted, reply

    with write_side(settings):
        with KafkaAdminClient(bootstrap_servers=settings.kafka) as admin:
            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, settings.topics.commands,
                                                configs={"max.message.bytes": "50000"})])
        asyncio.run(_with_gateway(settings, body))


async def _with_gateway(settings, body) -> None:  # type: ignore[no-untyped-def]
    async with CommandGateway(settings) as gateway:
        await body(gateway)
