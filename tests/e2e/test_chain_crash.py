"""kill -9 of the command processor mid-burst: the restarted one continues every chain.

The killed instance leaves a transaction open (its records are on the partitions, never
committed); the restarted instance fences it, which aborts it, rebuilds each partition's
chain head from the last committed record's header, and goes on. The export of the whole
log must verify with every partition's chain counting 1, 2, 3, ... without a gap.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest
from kafka import KafkaProducer

from deploy.cli import main
from deploy.topics import create_topics
from schemas.codec import encode_command
from testkit.stack_processes import HANG_GUARD_S, PATIENCE_S
from tests.e2e.test_processor_crash import (
    burst,
    kill_mid_burst,
    replies_by_command,
    start_processor,
)
from tests.live_write_side import settings_for

COMMANDS = 2_000


@pytest.mark.timeout(HANG_GUARD_S)
def test_kill_9_mid_burst_leaves_every_chain_unbroken(
    kafka_bootstrap, redis_url, unique_name, tmp_path, capsys
) -> None:
    settings = settings_for(kafka_bootstrap, redis_url, unique_name)
    create_topics(settings.kafka, settings.topics.creation_configs(), settings.partitions)
    commands = burst()[:COMMANDS]
    first = start_processor(settings, unique_name)
    producer = KafkaProducer(bootstrap_servers=settings.kafka, linger_ms=5)

    def send_paced() -> None:
        for i, envelope in enumerate(commands):
            producer.send(settings.topics.commands, encode_command(envelope),
                          key=envelope.partition_key.encode())  # fmt: skip
            if i % 50 == 49:
                producer.flush()
                time.sleep(0.1)
        producer.flush()

    sender = threading.Thread(target=send_paced)
    sender.start()
    seen_before_kill = kill_mid_burst(first, settings, 300)
    sender.join()
    producer.close()
    assert seen_before_kill < len(commands), "the burst finished before the kill"

    second = start_processor(settings, unique_name)
    try:
        deadline = time.monotonic() + PATIENCE_S
        while len(replies_by_command(settings)) < len(commands) and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        second.terminate()
        try:
            second.wait(timeout=PATIENCE_S)
        except subprocess.TimeoutExpired:
            second.kill()
            second.wait()
    assert len(replies_by_command(settings)) == len(commands)

    path = tmp_path / "events.jsonl"
    where = ["--kafka", settings.kafka, "--prefix", settings.topics.prefix]
    assert main(["export", *where, "--out", str(path)]) == 0
    counts: dict[int, list[int]] = {}
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        if obj.get("index", 0) == 0:
            counts.setdefault(obj["partition"], []).append(obj["chain"]["n"])
    assert counts and all(ns == list(range(1, len(ns) + 1)) for ns in counts.values())
    capsys.readouterr()
    assert main(["verify", str(path), "--json"]) == 0, capsys.readouterr().out
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["ok"] and verdict["records"] == sum(len(ns) for ns in counts.values())
    print(f"killed after {seen_before_kill} replies; {verdict['records']} records chained")
