"""A command the log cannot take is refused once, dead-lettered, and its partition goes on.

Written straight into the commands topic (no API in front to stop it), against the real
broker: one answer that fits a command record but not the event around it (refused before
anything is sent), and one the broker itself refuses because its topic takes less than
piecework assumes (refused after exactly one aborted transaction).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from kafka import KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from broker.api.gateway import CommandGateway
from runtime.deadletter import DeadLetter
from runtime.kafka_io import read_topic
from runtime.metrics_roles import role_registry
from schemas.codec import decode_reply, encode_command
from schemas.commands import ClaimTask, DepositFunds, PostTasks, SubmitWork, TaskSpec
from schemas.envelope import CommandEnvelope, Reply
from schemas.limits import MAX_RECORD_BYTES
from tests.live_write_side import settings_for, write_side

DEADLINE_S = 180.0


@pytest.fixture
def settings(kafka_bootstrap: str, redis_url: str, unique_name: str):
    return settings_for(kafka_bootstrap, redis_url, unique_name)


def env(command_id: str, actor: str, role: str, command) -> CommandEnvelope:
    return CommandEnvelope(command_id, actor, role, command_id, command)


def aborts() -> float:
    return role_registry("processor").get_sample_value("piecework_transaction_aborts_total") or 0.0


async def live_claim(gateway: CommandGateway, requester: str) -> tuple[str, str]:
    spec = TaskSpec("transcription", 50_000, "EUR", 60, payload={"audio": "a.ogg"})
    for command_id, actor, role, command in (
        (f"dep-{requester}", requester, "requester", DepositFunds(requester, 10_000_000, "EUR")),
        (f"post-{requester}", requester, "requester", PostTasks(requester, "b", (spec,))),
    ):
        reply = await gateway.send(env(command_id, actor, role, command), timeout=60)
        assert reply.accepted, reply
    task_id = reply.result["task_ids"][0]
    claim = await gateway.send(env(f"claim-{requester}", "ana", "worker",
                                   ClaimTask(task_id, "ana")), timeout=60)  # fmt: skip
    assert claim.accepted, claim
    return task_id, claim.result["claim_id"]


def produce_raw(settings, envelope: CommandEnvelope) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka, max_request_size=2 * 1024 * 1024)
    try:
        producer.send(settings.topics.commands, encode_command(envelope),
                      key=envelope.partition_key.encode()).get(timeout=60)  # fmt: skip
    finally:
        producer.close()


def wait_for_reply(settings, command_id: str) -> Reply:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        for record in read_topic(settings.kafka, settings.topics.replies):
            reply = decode_reply(record.value)
            if reply.command_id == command_id:
                return reply
        time.sleep(0.5)
    raise AssertionError(f"no reply to {command_id} after {DEADLINE_S:.0f} s")


def dead_letters(settings) -> list[DeadLetter]:
    return [DeadLetter.decode(r.value) for r in read_topic(settings.kafka,
                                                           settings.topics.dead_letter)]


async def other_partitions_go_on(gateway: CommandGateway) -> list[Reply]:
    return list(await asyncio.gather(*(
        gateway.send(env(f"dep-other-{i}", f"other-{i}", "requester",
                         DepositFunds(f"other-{i}", 1_000_000, "EUR")), timeout=60)
        for i in range(8))))  # fmt: skip


def submit_and_check(settings, answer_bytes: int, code: str) -> tuple[Reply, float]:
    async def body() -> tuple[Reply, list[Reply], float]:
        async with CommandGateway(settings) as gateway:
            task_id, claim_id = await live_claim(gateway, f"acme-{code}")
            before = aborts()
            poison = env(f"poison-{code}", "ana", "worker",
                         SubmitWork(task_id, claim_id, "ana", "x" * answer_bytes))
            await asyncio.to_thread(produce_raw, settings, poison)
            reply = await asyncio.to_thread(wait_for_reply, settings, poison.command_id)
            others = await other_partitions_go_on(gateway)
            return reply, others, aborts() - before

    reply, others, aborted = asyncio.run(body())
    assert not reply.accepted and reply.code == code, reply
    assert all(r.accepted for r in others), others
    letters = [d for d in dead_letters(settings) if d.code == code]
    assert len(letters) == 1 and letters[0].topic == settings.topics.commands
    assert letters[0].value_size > answer_bytes  # the whole command is accounted for
    return reply, aborted


def test_an_answer_whose_event_exceeds_the_record_limit_is_refused_without_an_abort(settings):
    with write_side(settings):
        # The command fits in a record (< 1 MiB); the event around the answer does not.
        reply, aborted = submit_and_check(settings, MAX_RECORD_BYTES - 300, "too_large")
    assert "at most" in reply.message
    assert aborted == 0


def test_a_record_the_broker_refuses_for_good_costs_one_abort_then_a_refusal(settings):
    with write_side(settings):
        # The events topic takes less than piecework assumes: the broker refuses the
        # record, and no retry can change that.
        with KafkaAdminClient(bootstrap_servers=settings.kafka) as admin:
            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, settings.topics.events,
                                                configs={"max.message.bytes": "100000"})])
        _, aborted = submit_and_check(settings, 200_000, "unwritable")
    assert aborted == 1
