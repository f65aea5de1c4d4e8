"""kill -9 of the command processor during a burst: nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from broker.domain.shard import Shard
from deploy.topics import create_topics
from runtime.kafka_io import read_topic
from schemas.codec import decode_events, decode_reply, encode_command
from schemas.commands import ClaimTask, DepositFunds, PostTasks, TaskSpec
from schemas.envelope import CommandEnvelope
from schemas.ids import make_task_id
from testkit.stack_processes import HANG_GUARD_S, PATIENCE_S
from tests.live_write_side import settings_for

REQUESTERS, BATCHES, TASKS, CLAIMS = 10, 10, 50, 4_890  # 10 + 100 + 4,890 = 5,000 commands


def burst(seed: int = 7) -> list[CommandEnvelope]:
    rng = random.Random(seed)
    spec = TaskSpec(
        kind="keyword_check",
        reward=30_000,
        currency="EUR",
        estimated_seconds=20,
        assignments=10,
        payload={"q": "x"},
    )
    commands: list[CommandEnvelope] = []
    for r in range(REQUESTERS):
        rid = f"r{r}"
        commands.append(
            CommandEnvelope(
                f"dep-{rid}", rid, "requester", "burst", DepositFunds(rid, 10**12, "EUR")
            )
        )
        for b in range(BATCHES):
            commands.append(
                CommandEnvelope(
                    f"post-{rid}-{b}",
                    rid,
                    "requester",
                    "burst",
                    PostTasks(rid, f"b{b}", (spec,) * TASKS),
                )
            )
    for n in range(CLAIMS):
        task = make_task_id(
            f"r{rng.randrange(REQUESTERS)}", f"b{rng.randrange(BATCHES)}", rng.randrange(TASKS)
        )
        worker = f"w{rng.randrange(300)}"
        commands.append(
            CommandEnvelope(f"claim-{n}", worker, "worker", "burst", ClaimTask(task, worker))
        )
    return commands


def start_processor(settings, instance: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PIECEWORK_KAFKA": settings.kafka,
        "PIECEWORK_TOPIC_PREFIX": settings.topics.prefix,
        "PIECEWORK_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "run", "processor", "--instance", instance], env=env
    )


def kill_mid_burst(process: subprocess.Popen, settings, at_least: int) -> int:
    """kill -9 once the replies topic took `at_least` offsets (replies and transaction
    markers: read in one request, where reading every reply takes seconds on a busy
    machine and a fast processor finished the burst meanwhile). Returns how many commands
    were answered when it died, counted after the kill, so exactly."""
    watch = KafkaConsumer(bootstrap_servers=settings.kafka)
    try:
        tps = [TopicPartition(settings.topics.replies, p)
               for p in range(settings.partitions)]  # fmt: skip
        deadline = time.monotonic() + PATIENCE_S
        while sum(watch.end_offsets(tps).values()) < at_least and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        watch.close()
    process.send_signal(signal.SIGKILL)
    process.wait()
    return len(replies_by_command(settings))


def replies_by_command(settings) -> dict[str, list]:
    found: dict[str, list] = {}
    for record in read_topic(settings.kafka, settings.topics.replies):
        reply = decode_reply(record.value)
        found.setdefault(reply.command_id, []).append(reply)
    return found


@pytest.mark.timeout(HANG_GUARD_S)
def test_kill_9_during_a_burst_loses_and_duplicates_nothing(
    kafka_bootstrap, redis_url, unique_name
) -> None:
    settings = settings_for(kafka_bootstrap, redis_url, unique_name)
    create_topics(settings.kafka, settings.topics.creation_configs(), settings.partitions)
    commands = burst()
    first = start_processor(settings, unique_name)
    producer = KafkaProducer(bootstrap_servers=settings.kafka, linger_ms=5)

    def send_paced() -> None:
        # Spread over ~5 s: a fast processor must not finish the burst before the kill.
        for i, envelope in enumerate(commands):
            producer.send(
                settings.topics.commands,
                encode_command(envelope),
                key=envelope.partition_key.encode(),
            )
            if i % 100 == 99:
                producer.flush()
                time.sleep(0.1)
        producer.flush()

    sender = threading.Thread(target=send_paced)
    sender.start()
    # Kill once the processor is visibly mid-burst.
    seen_before_kill = kill_mid_burst(first, settings, 500)
    sender.join()
    producer.close()
    assert seen_before_kill < len(commands), (
        "the burst finished before the kill: test proves nothing"
    )

    second = start_processor(settings, unique_name)
    try:
        deadline = time.monotonic() + PATIENCE_S
        replies = replies_by_command(settings)
        while len(replies) < len(commands) and time.monotonic() < deadline:
            time.sleep(1)
            replies = replies_by_command(settings)
    finally:
        second.terminate()
        try:
            second.wait(timeout=PATIENCE_S)
        except subprocess.TimeoutExpired:
            second.kill()
            second.wait()

    unanswered = {c.command_id for c in commands} - set(replies)
    assert not unanswered, (f"{len(unanswered)} commands unanswered {PATIENCE_S:.0f} s after "
                            f"the restart, e.g. {sorted(unanswered)[:5]}")
    assert set(replies) == {c.command_id for c in commands}
    records = read_topic(settings.kafka, settings.topics.events)
    events = [env for r in records for env in decode_events(r.value)]
    ids = [e.event_id for e in events]
    assert len(ids) == len(set(ids)), "an event was written twice"
    by_command: dict[str, list[str]] = {}
    for event in events:
        by_command.setdefault(event.command_id, []).append(event.event_id)
    for command_id, answers in replies.items():
        assert all(a == answers[0] for a in answers), f"{command_id} got two different replies"
        assert tuple(by_command.get(command_id, ())) == answers[0].event_ids
    accepted = sum(answers[0].accepted for answers in replies.values())
    print(f"killed after {seen_before_kill} replies; {accepted} accepted, {len(events)} events")
    assert accepted > 1_000  # the burst did real work, not only refusals
    shard = Shard()
    for event in events:
        assert shard.apply(event)
    assert shard.check_invariants() == []
