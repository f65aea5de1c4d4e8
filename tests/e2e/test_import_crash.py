"""kill -9 of `piecework import` mid-way: only whole chunks are visible, --resume completes
the log into exactly what the export holds (same views, same digests), and the credits
that were in flight travel as re-issued outbox commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kafka import TopicPartition

from audit.logfile import export, source_records
from audit.run import Options, audit
from audit.source import FileLog, KafkaLog, ListLog
from deploy.topics import create_topics
from runtime.kafka_io import partition_ids, read_topic, snapshot_consumer
from schemas.codec import decode_command, decode_events
from schemas.topics import Topics
from testkit.replay_log import make_log
from testkit.stack_processes import PATIENCE_S
from tests.audit_topics import drop_topics

CHUNK, EVENTS = 100, 20_000


def visible(kafka: str, topic: str) -> int:
    """Events (not records: a record holds one decision's events) readable committed."""
    return sum(len(decode_events(r.value)) for r in read_topic(kafka, topic))


def wait_first_commit(kafka: str, topic: str, child: subprocess.Popen) -> None:
    """Until a chunk is committed (a last stable offset above 0) or the importer ended.
    One cheap request a poll, not a read of the topic: the kill must land early in the
    import, and a poll that takes seconds on a busy machine would let it run to its end."""
    consumer = snapshot_consumer(kafka, "import-crash-poll")
    try:
        tps = [TopicPartition(topic, p) for p in partition_ids(consumer, topic)]
        deadline = time.monotonic() + PATIENCE_S
        while child.poll() is None and not any(consumer.end_offsets(tps).values()):
            assert time.monotonic() < deadline, f"no chunk committed in {PATIENCE_S:.0f} s"
            time.sleep(0.005)
    finally:
        consumer.close()


def commit_points(path: Path, chunk: int) -> set[int]:
    """Event counts at which the importer commits: after the record that fills a chunk."""
    points, total, in_chunk = set(), 0, 0
    for group in source_records(FileLog(path).items()):
        total, in_chunk = total + len(group), in_chunk + len(group)
        if in_chunk >= chunk:
            points.add(total)
            in_chunk = 0
    return points


@pytest.fixture
def topics(kafka_bootstrap: str):
    topics = Topics(f"t.import-crash.{uuid.uuid4().hex[:8]}")
    create_topics(kafka_bootstrap, topics.creation_configs(), 4)
    yield topics
    drop_topics(kafka_bootstrap, topics.prefix)


def test_a_killed_import_leaves_whole_chunks_and_resumes(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    with path.open("w") as out:
        export(ListLog(make_log(EVENTS, partitions=4)), out)
    command = [sys.executable, "-m", "deploy.cli", "import", str(path), "--kafka",
               kafka_bootstrap, "--prefix", topics.prefix, "--chunk", str(CHUNK)]  # fmt: skip
    child = subprocess.Popen(command, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_first_commit(kafka_bootstrap, topics.events, child)
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=PATIENCE_S)
    assert child.returncode == -signal.SIGKILL, (
        f"the import ended ({child.returncode}) before the kill: proves nothing")
    seen = visible(kafka_bootstrap, topics.events)
    # all or nothing per transaction
    assert seen in commit_points(path, CHUNK) and 0 < seen < EVENTS, seen

    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, check=False,
                             timeout=PATIENCE_S)
    assert resumed.returncode == 0, resumed.stderr
    assert visible(kafka_bootstrap, topics.events) == EVENTS
    log = KafkaLog(kafka_bootstrap, topics.events)
    try:
        from_topic = audit(log, Options(no_live_reason="test"))
    finally:
        log.close()
    from_file = audit(FileLog(path), Options(no_live_reason="test"))
    assert from_topic.ok and from_topic.digests == from_file.digests
    # the credits in flight when the log was cut travel as re-issued outbox commands
    commands = [decode_command(r.value) for r in read_topic(kafka_bootstrap, topics.commands)]
    reissued = {cmd.command.source_event_id for cmd in commands}
    assert from_file.pending and reissued == {o.event_id for o in from_file.pending}
    assert json.dumps(from_topic.to_json())
