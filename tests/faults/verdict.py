"""After a fault: read the whole log and decide whether anything was lost or duplicated.

Two judges. Ours: every command a client saw accepted has exactly its events in the log,
no event id twice, every retried command got the same reply, and the write side's own
invariants hold over a fold of the log. Then `piecework audit --json`, the project's
auditor, replays the log and checks every invariant (and the live views, when given).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from broker.domain.shard import Shard
from runtime.kafka_io import read_partition, read_topic, snapshot_consumer
from runtime.settings import Settings
from schemas.codec import decode_events, decode_reply
from schemas.envelope import EventEnvelope, Reply
from schemas.errors import SchemaError
from testkit.stack_processes import PATIENCE_S

AUDIT_TIMEOUT_S = PATIENCE_S


@dataclass
class Log:
    events: list[EventEnvelope] = field(default_factory=list)
    undecodable_events: list[tuple[int, int]] = field(default_factory=list)  # partition, offset
    replies: dict[str, list[Reply]] = field(default_factory=dict)

    def by_command(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for event in self.events:
            found.setdefault(event.command_id, []).append(event.event_id)
        return found


def read_log(settings: Settings) -> Log:
    log = Log()
    for record in read_topic(settings.kafka, settings.topics.events, "fault-verdict"):
        try:
            log.events.extend(decode_events(record.value))
        except SchemaError:
            log.undecodable_events.append((record.partition, record.offset))
    for record in read_topic(settings.kafka, settings.topics.replies, "fault-verdict"):
        try:
            reply = decode_reply(record.value)
        except SchemaError:
            continue  # injected garbage; the API ignores it too
        log.replies.setdefault(reply.command_id, []).append(reply)
    return log


def lost_or_duplicated(log: Log, accepted: Mapping[str, Sequence[str]]) -> list[str]:
    """Every way the log disagrees with what clients were told, as sentences (empty: none)."""
    problems = []
    twice = [i for i, n in Counter(e.event_id for e in log.events).items() if n > 1]
    if twice:
        problems.append(f"{len(twice)} event ids written more than once, e.g. {twice[:5]}")
    by_command = log.by_command()
    for command_id, event_ids in accepted.items():
        found = tuple(by_command.get(command_id, ()))
        if found != tuple(event_ids):
            problems.append(f"{command_id}: client was told {list(event_ids)}, log has "
                            f"{list(found)}")
    for command_id, replies in log.replies.items():
        # an answer again from the processor's memory says so (replayed); nothing else differs
        first = dataclasses.replace(replies[0], replayed=False)
        if any(dataclasses.replace(r, replayed=False) != first for r in replies):
            problems.append(f"{command_id}: different replies {replies}")
        if replies[0].accepted and tuple(by_command.get(command_id, ())) != replies[0].event_ids:
            problems.append(f"{command_id}: reply names {replies[0].event_ids}, log has "
                            f"{by_command.get(command_id)}")
    return problems


def write_side_invariants(log: Log) -> list[str]:
    """The processor's own fold and checks, over every committed event."""
    shard = Shard()
    for event in log.events:
        shard.apply(event)
    return shard.check_invariants()


def assert_nothing_lost_or_duplicated(log: Log, accepted: Mapping[str, Sequence[str]]) -> None:
    problems = lost_or_duplicated(log, accepted) + write_side_invariants(log)
    shown = "\n".join(problems[:30])
    assert not problems, f"{len(problems)} problems:\n{shown}"


def audit(settings: Settings, redis_url: str | None = None, expect_exit: int = 0) -> dict:
    """`piecework audit --json` over the topics of `settings` (and the live views in
    `redis_url`, if given): exit `expect_exit` or the test fails with the auditor's report."""
    cmd = [sys.executable, "-m", "deploy.cli", "audit", "--json", "--kafka", settings.kafka,
           "--prefix", settings.topics.prefix]
    cmd += ["--redis", redis_url] if redis_url else ["--no-live"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=AUDIT_TIMEOUT_S)
    assert done.returncode == expect_exit, (
        f"piecework audit exited {done.returncode}:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    )
    return json.loads(done.stdout)


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed")
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        return {tp.partition: o for tp, o in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def processor_lag(settings: Settings) -> int:
    """Commands not yet decided: end offsets minus the processor group's committed ones."""
    ends = end_offsets(settings.kafka, settings.topics.commands)
    group = f"{settings.topics.prefix}-processor"
    try:
        with KafkaAdminClient(bootstrap_servers=settings.kafka, client_id="fault-verdict") as admin:
            committed = admin.list_group_offsets({group: None})[group]
    except KafkaError:  # e.g. an offset commit still inside an open transaction
        return sum(ends.values()) or 1
    done = {tp.partition: max(meta.offset, 0) for tp, meta in committed.items()
            if tp.topic == settings.topics.commands}
    behind = [p for p, end in ends.items() if done.get(p, 0) < end]
    if not behind:
        return 0
    # Between the committed offset and the end may be only transaction markers (the
    # processor's outbox writes commands in transactions): count real records.
    reader = snapshot_consumer(settings.kafka, "fault-verdict-lag")
    try:
        return sum(1 for p in behind for _ in read_partition(reader, settings.topics.commands, p,
                                                             done.get(p, 0)))
    finally:
        reader.close()


def wait_quiet(settings: Settings, quiet_s: float = 3.0, timeout: float = PATIENCE_S) -> None:
    """Until every command is decided and the events topic stopped growing for `quiet_s`:
    outbox credits, timer firings and retried commands have all gone through."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = end_offsets(settings.kafka, settings.topics.events)
        if now != last or processor_lag(settings) > 0:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.5)
    raise AssertionError(f"commands still undecided or events still growing after "
                         f"{timeout:.0f} s (lag {processor_lag(settings)})")
