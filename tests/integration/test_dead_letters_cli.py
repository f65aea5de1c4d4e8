"""Dead letters from the command line, and invariant 5 in the audit: an event record that
does not decode must have its dead letter, and an export keeps it raw."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer

from deploy.cli import main
from deploy.topics import create_topics
from runtime.deadletter import DeadLetter
from tests.audit_topics import drop_topics
from tests.live_write_side import settings_for


def cli(command: str, settings, *args: str) -> int:
    where = ["--kafka", settings.kafka, "--prefix", settings.topics.prefix]
    return main([command, *where, *args])


def audit_json(capsys, settings) -> tuple[int, dict]:
    capsys.readouterr()
    code = cli("audit", settings, "--json", "--no-live")
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def deployment(kafka_bootstrap: str, redis_url: str):
    s = settings_for(kafka_bootstrap, redis_url, f"t.audit-dl.{uuid.uuid4().hex[:8]}", 2)
    create_topics(s.kafka, s.topics.creation_configs(), s.partitions)
    yield s
    drop_topics(kafka_bootstrap, s.topics.prefix)


def test_dead_letters_are_listed_and_undecodable_events_need_one(
    deployment, tmp_path: Path, capsys
) -> None:
    s = deployment
    producer = KafkaProducer(bootstrap_servers=s.kafka)
    producer.send(s.topics.events, b"\xc1 not an event", key=b"k", partition=1).get(10)
    letter = DeadLetter("undecodable", "not msgpack", s.topics.events, 1, 0, b"k",
                        b"\xc1 not an event", "views-0", 1)  # fmt: skip
    producer.send(s.topics.dead_letter, letter.encode(), partition=0).get(10)
    producer.send(s.topics.dead_letter, b"\xc1 not a dead letter", partition=1).get(10)
    producer.flush()
    capsys.readouterr()
    assert cli("dead-letters", s, "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(d["code"] for d in listed) == ["undecodable", "undecodable_dead_letter"]
    assert any(d.get("raw") == b"\xc1 not a dead letter".hex() for d in listed)
    code, report = audit_json(capsys, s)
    assert code == 0 and report["undecodable"] == 1
    assert report["dead_letters"] == {"undecodable": 1, "undecodable_dead_letter": 1}
    producer.send(s.topics.events, b"\xc1 again", partition=0).get(10)  # no dead letter
    producer.close()
    code, report = audit_json(capsys, s)
    assert code == 1 and [v["check"] for v in report["violations"]] == ["dead_letters"]
    path = tmp_path / "raw.jsonl"
    assert cli("export", s, "--out", str(path)) == 0
    assert [json.loads(line)["undecodable"]["code"] for line in path.read_text().splitlines()] == [
        "undecodable", "undecodable"]  # fmt: skip
