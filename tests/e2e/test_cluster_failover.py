"""A three-broker KRaft cluster loses the leader of the events partitions to kill -9.

`piecework up --brokers 3` semantics on a private cluster (own ports, data dir in tmp):
replication 3, min ISR 2, so with one node dead every write still has two copies and the
processor carries on. Commands keep arriving during the failover; then the dead node is
started again on its data dir and catches up. Nothing lost, nothing duplicated.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter

import pytest
from kafka import KafkaProducer
from kafka.errors import KafkaError

from deploy.topics import create_topics
from runtime.settings import Settings
from schemas.codec import encode_command
from schemas.envelope import CommandEnvelope
from schemas.topics import Topics
from testkit.stack_processes import HANG_GUARD_S, PATIENCE_S
from tests.e2e.test_processor_crash import burst, replies_by_command, start_processor
from tests.faults.private import PrivateKafka, private_kafka
from tests.faults.verdict import assert_nothing_lost_or_duplicated, audit, read_log

CHUNK, PAUSE_S = 100, 0.05  # about 2,000 commands/s offered, for about 2.5 s


class Sender(threading.Thread):
    """Offers the burst in small chunks, so commands are still arriving at the kill."""

    def __init__(self, settings: Settings, commands: list[CommandEnvelope]) -> None:
        super().__init__(name="sender", daemon=True)
        self.settings, self.commands = settings, commands
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            producer = KafkaProducer(bootstrap_servers=self.settings.kafka, linger_ms=5)
            for i in range(0, len(self.commands), CHUNK):
                for env in self.commands[i : i + CHUNK]:
                    producer.send(self.settings.topics.commands, encode_command(env),
                                  key=env.partition_key.encode())
                time.sleep(PAUSE_S)
            producer.flush(timeout=PATIENCE_S)
            producer.close()
        except BaseException as exc:  # reported by the test
            self.error = exc


def _replies(settings: Settings) -> dict[str, list]:
    """All replies; retried while a just-killed node is still named by the metadata, or
    while a node has not heard of the new topics yet."""
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        try:
            return replies_by_command(settings)
        except (KafkaError, RuntimeError):
            time.sleep(1)
    return replies_by_command(settings)


def _wait_replies(settings: Settings, at_least: int, timeout: float) -> dict[str, list]:
    deadline = time.monotonic() + timeout
    replies = _replies(settings)
    while len(replies) < at_least and time.monotonic() < deadline:
        time.sleep(0.5)
        replies = _replies(settings)
    return replies


def _wait_full_isr(kafka: PrivateKafka, settings: Settings, timeout: float) -> None:
    """Every events partition has all three replicas in sync."""
    deadline = time.monotonic() + timeout
    while True:
        isr = kafka.isr(settings.topics.events)
        if len(isr) == settings.partitions and {len(r) for r in isr.values()} == {3}:
            return
        assert time.monotonic() < deadline, f"events ISR not 3 of 3 in {timeout:.0f} s: {isr}"
        time.sleep(1)


def _victim(kafka: PrivateKafka, settings: Settings, instance: str) -> tuple[int, str]:
    """A leader of events partitions; the processor's transaction coordinator's node if
    it is one (the hardest case: its transaction is cut mid-way), else the busiest."""
    led = Counter(kafka.leaders(settings.topics.events).values())
    coordinator = kafka.transaction_coordinator(f"{settings.topics.prefix}-processor-{instance}")
    victim = coordinator if led[coordinator] else led.most_common(1)[0][0]
    roles = f"leader of {led[victim]} of {settings.partitions} events partitions"
    return victim, roles + (", transaction coordinator" if victim == coordinator else "")


@pytest.mark.timeout(HANG_GUARD_S)
def test_kill_9_of_the_events_leader_in_a_three_broker_cluster(tmp_path, unique_name) -> None:
    with private_kafka(tmp_path / "cluster", brokers=3) as kafka:
        settings = Settings(kafka=kafka.bootstrap, topics=Topics(unique_name), partitions=4)
        create_topics(settings.kafka, settings.topics.creation_configs(), settings.partitions)
        _wait_full_isr(kafka, settings, timeout=PATIENCE_S)
        commands = burst()
        processor = start_processor(settings, unique_name)
        sender = Sender(settings, commands)
        try:
            sender.start()
            before = len(_wait_replies(settings, 1_000, timeout=PATIENCE_S))
            victim, roles = _victim(kafka, settings, unique_name)
            kafka.kill9(victim)
            killed_at = time.monotonic()
            # The processor must carry on with one node dead: min ISR 2 of 3 still holds.
            during = len(_wait_replies(settings, before + 1_000, timeout=PATIENCE_S))
            failover_s = time.monotonic() - killed_at
            isr = kafka.isr(settings.topics.events)
            assert during >= before + 1_000, f"stalled with node {victim} dead: {during} replies"
            assert processor.poll() is None, "the processor died with one broker"
            began = time.monotonic()
            kafka.start()
            restart_s = time.monotonic() - began
            replies = _wait_replies(settings, len(commands), timeout=PATIENCE_S)
            sender.join(timeout=PATIENCE_S)
            assert not sender.is_alive(), f"still sending after {PATIENCE_S:.0f} s"
            assert sender.error is None, f"sending failed: {sender.error!r}"
        finally:
            processor.terminate()
            try:
                stop_code: int | None = processor.wait(timeout=PATIENCE_S)
            except subprocess.TimeoutExpired:
                stop_code = None
                processor.kill()
                processor.wait()
        print(f"killed node {victim} ({roles}) after "
              f"{before} replies; +1,000 more in {failover_s:.1f} s with it dead (ISR then "
              f"{isr}); it restarted in {restart_s:.1f} s; {len(replies)} replies")
        assert set(replies) == {c.command_id for c in commands}, "a command was never decided"
        log = read_log(settings)
        accepted = {c: r[0].event_ids for c, r in replies.items() if r[0].accepted}
        assert len(accepted) > 1_000, "the burst did real work, not only refusals"
        assert_nothing_lost_or_duplicated(log, accepted)
        audit(settings)
        assert stop_code is not None, f"the processor ignored SIGTERM for {PATIENCE_S:.0f} s"
        _wait_full_isr(kafka, settings, timeout=PATIENCE_S)  # the restarted node caught up
