"""Garbage bytes on every topic while the stack runs and a market trades.

Invariant 5: a record nobody can decode is never silently dropped and never stops the
pipeline. Garbage commands are dead-lettered by the processor and garbage events by the
views worker, each with its reason and the original bytes; garbage replies are ignored by
the API's reply listener; garbage dead letters are just there. Nothing crashes, a claim
still works end to end, also after the processor rebuilt its state over the garbage.
"""

from __future__ import annotations

import hashlib
import os
import re
import time

import msgpack
import pytest
from kafka import KafkaProducer

from runtime.deadletter import DeadLetter
from runtime.kafka_io import read_topic
from runtime.settings import Settings
from testkit.stack_processes import HANG_GUARD_S, PATIENCE_S, probe
from tests.faults.load import Plan, start_load
from tests.faults.roles import fault_stack, kill9, restart
from tests.faults.verdict import (
    assert_nothing_lost_or_duplicated,
    audit,
    read_log,
    wait_quiet,
)

# Topic records are limited to about 1 MiB (the broker's message.max.bytes).
# The largest value a default topic accepted here (message.max.bytes 1048588, less the
# batch and record overhead): its dead letter is larger still.
NEAR_LIMIT = 1_048_400


def garbage() -> list[bytes | None]:
    return [
        os.urandom(64),
        b"",
        None,  # a tombstone
        b"\xc1",  # the one byte msgpack never uses
        msgpack.packb([1, 2, 3]),
        msgpack.packb({"t": "TaskClaimed", "v": 1, "d": {"task_id": 7}}),
        msgpack.packb({"t": "NoSuchThing", "v": 1, "id": "x", "d": {}}),
        os.urandom(200_000),
        os.urandom(NEAR_LIMIT),
    ]


def inject(settings: Settings, topic: str, partitions: int) -> dict[tuple[int, int], bytes | None]:
    """Every kind of garbage on every partition of `topic`: {(partition, offset): value}."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka, max_request_size=2 * 1024 * 1024)
    sent = {}
    try:
        for p in range(partitions):
            for i, value in enumerate(garbage()):
                meta = producer.send(topic, value, key=f"garbage-{i}".encode(),
                                     partition=p).get(timeout=PATIENCE_S)
                sent[(meta.partition, meta.offset)] = value
    finally:
        producer.close()
    return sent


def dead_letters(settings: Settings) -> dict[tuple[str, int, int], DeadLetter]:
    found = {}
    for record in read_topic(settings.kafka, settings.topics.dead_letter, "garbage-test"):
        try:
            letter = DeadLetter.decode(record.value)
        except Exception:
            continue  # the garbage injected into the dead-letter topic itself
        found[(letter.topic, letter.partition, letter.offset)] = letter
    return found


def wait_dead_lettered(settings: Settings, wanted: set[tuple[str, int, int]], timeout: float
                       ) -> dict[tuple[str, int, int], DeadLetter]:
    deadline = time.monotonic() + timeout
    while True:
        letters = dead_letters(settings)
        missing = wanted - set(letters)
        if not missing or time.monotonic() > deadline:
            assert not missing, f"never dead-lettered: {sorted(missing)[:10]}"
            return letters
        time.sleep(1)


@pytest.mark.timeout(HANG_GUARD_S)
def test_garbage_on_every_topic_is_dead_lettered_or_ignored(
    kafka_bootstrap, redis_url, tmp_path
) -> None:
    plan = Plan(requesters=2, workers=6, batches=3, tasks=40)
    with fault_stack(kafka_bootstrap, redis_url, tmp_path) as stack:
        settings = Settings.from_env(stack.env)
        topics = settings.topics
        load = start_load(stack, plan)
        load.wait_for(accepted=plan.claims // 3)
        injected = {t: inject(settings, t, settings.partitions)
                    for t in (topics.commands, topics.events, topics.replies, topics.dead_letter)}
        seen = load.join()
        wanted = {(t, p, o) for t in (topics.commands, topics.events) for p, o in injected[t]}
        letters = wait_dead_lettered(settings, wanted, timeout=PATIENCE_S)
        for (topic, p, o), letter in letters.items():
            if (topic, p, o) not in wanted:
                continue
            original = injected[topic][(p, o)]
            if original is None:  # a tombstone: nothing to copy or fingerprint
                assert (letter.value, letter.value_size) == (None, -1), f"{topic} {p}/{o}"
            else:
                # A huge record keeps a prefix and its fingerprint (the whole stays at its
                # origin); any other is copied whole.
                kept = original[: len(letter.value or b"")] if letter.truncated else original
                assert letter.value == kept, f"{topic} {p}/{o}: bytes changed"
                assert letter.value_size == len(original), f"{topic} {p}/{o}: size changed"
                assert letter.value_sha256 == hashlib.sha256(original).hexdigest(), (topic, p, o)
            assert letter.code and letter.reason, f"{topic} {p}/{o}: no reason"
            role = "processor" if topic == topics.commands else "views"
            assert letter.consumer.startswith(role), f"{topic} {p}/{o} by {letter.consumer}"
        stack.assert_alive()
        probe(stack)  # the pipeline still works end to end
        # The processor now rebuilds its partitions from events and replies holding garbage.
        kill9(stack, "processor")
        restart(stack, "processor")
        probe(stack)
        wait_quiet(settings)
        log = read_log(settings)
        codes = sorted({letters[w].code for w in wanted})
        print(f"{sum(map(len, injected.values()))} garbage records on 4 topics; "
              f"{len(wanted)} dead-lettered with codes {codes}; {len(seen.accepted)} accepted "
              f"commands around them; {dict(seen.outcomes)}")
        assert sorted(log.undecodable_events) == sorted(injected[topics.events])
        assert_nothing_lost_or_duplicated(log, seen.accepted)
        # The garbage was written into the events topic by a foreign writer: the hash chain
        # (docs/AUDIT.md) names it as inserted, and only that fails the audit.
        report = audit(settings, stack.env["PIECEWORK_REDIS"], expect_exit=1)
        inserted = [v["message"] for v in report["violations"]]
        assert inserted and all(v["check"] == "chain" for v in report["violations"]), inserted
        named = {tuple(int(x) for x in re.findall(r"partition (\d+) offset (\d+)", m)[0])
                 for m in inserted}  # fmt: skip
        assert all(m.startswith("inserted") for m in inserted)
        assert named <= set(injected[topics.events]), (named, inserted)
        stack.assert_alive()
