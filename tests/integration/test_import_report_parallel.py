"""`piecework import` and `piecework report` with --jobs 2 on a real log: the same output,
byte for byte, as --jobs 1 (audit/importer.py, audit/report_replay.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer

from audit import importer, parallel, report_replay
from audit.logfile import export
from audit.source import FileLog, KafkaLog
from audit.verify import kafka_chain_fields
from deploy.cli import main
from deploy.topics import create_topics
from runtime.kafka_io import read_topic
from schemas.chain import Head, digest, encode_header
from schemas.topics import Topics
from testkit.replay_log import encode_log, make_log
from tests.audit_topics import drop_topics

PARTITIONS = 4


@pytest.fixture(autouse=True)
def no_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """A few thousand events go the parallel way too (the CLI's default is 20,000)."""
    monkeypatch.setattr(parallel, "SERIAL_BELOW", 0)
    monkeypatch.setattr(importer, "SERIAL_BELOW", 0)
    monkeypatch.setattr(importer, "PIECE", 700)


@pytest.fixture(scope="module")
def prefix(kafka_bootstrap: str):
    """The prefix under which each test creates its deployments; all dropped after."""
    mine = f"t.par-import.{uuid.uuid4().hex[:8]}"
    yield mine
    drop_topics(kafka_bootstrap, mine)


def deployment(bootstrap: str, prefix: str, name: str, partitions: int = PARTITIONS) -> list[str]:
    topics = Topics(f"{prefix}.{name}")
    create_topics(bootstrap, topics.creation_configs(), partitions)
    return ["--kafka", bootstrap, "--prefix", topics.prefix]


@pytest.fixture(scope="module")
def source(kafka_bootstrap: str, prefix: str, tmp_path_factory: pytest.TempPathFactory):
    """A realistic log written with its hash chain to a deployment, and its export."""
    where = deployment(kafka_bootstrap, prefix, "source")
    topic = Topics(where[-1]).events
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    heads = {p: Head() for p in range(PARTITIONS)}
    log = make_log(6_000, partitions=PARTITIONS)
    credits = [r for r in log if r[2].type == "WorkerCredited"]
    lost = {id(r) for r in credits[-7:]}  # in flight when the log was cut: re-issued
    log = [r for r in log if id(r) not in lost]
    for p, _, value in sorted(encode_log(log), key=lambda r: (r[0], r[1])):
        heads[p] = heads[p].next(p, digest(value))
        producer.send(topic, value=value, partition=p,
                      headers=[("pw-chain", encode_header(heads[p].n, heads[p].head))])  # fmt: skip
    producer.flush()
    producer.close()
    path = tmp_path_factory.mktemp("par") / "events.jsonl"
    log = KafkaLog(kafka_bootstrap, topic, "piecework-export")
    try:
        with path.open("w") as out:
            export(log, out, None, kafka_chain_fields(log))
    finally:
        log.close()
    return where, path


def records(bootstrap: str, topic: str) -> list[tuple]:
    return [(r.partition, r.offset, r.key, r.value) for r in read_topic(bootstrap, topic)]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_a_parallel_import_writes_the_serial_topic(kafka_bootstrap: str, prefix: str,
                                                   source, capsys) -> None:  # fmt: skip
    _, path = source
    assert len(importer.pieces(path) or ()) > 2  # the file does go in parallel
    written = {}
    for jobs in ("1", "2"):
        where = deployment(kafka_bootstrap, prefix, f"import{jobs}")
        run(capsys, "import", *where, str(path), "--jobs", jobs, "--chunk", "1000")
        topics = Topics(where[-1])
        written[jobs] = (records(kafka_bootstrap, topics.events),
                         records(kafka_bootstrap, topics.commands))  # fmt: skip
    events, commands = written["1"]
    assert len(events) > 5_000 and commands  # the credits in flight travel as commands
    assert written["2"] == written["1"]  # same partitions, offsets, keys and bytes


def test_a_refused_import_says_the_same_in_parallel(kafka_bootstrap: str, prefix: str,
                                                    source, capsys) -> None:  # fmt: skip
    _, path = source
    said = {}
    for jobs in ("1", "2"):
        where = deployment(kafka_bootstrap, prefix, f"small{jobs}", partitions=2)
        capsys.readouterr()
        assert main(["import", *where, str(path), "--jobs", jobs]) == 2
        said[jobs] = capsys.readouterr().err.replace(f"small{jobs}", "small")
        assert not records(kafka_bootstrap, Topics(where[-1]).events)
    assert "partition 2 does not exist" in said["1"] and said["2"] == said["1"]


@pytest.mark.parametrize("window", [(), ("--since", "1700000600000", "--until", "1700003000000")])
def test_a_parallel_report_is_the_serial_one(kafka_bootstrap: str, source, tmp_path: Path,
                                             capsys, window: tuple[str, ...],
                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import matplotlib

    # Without a salt matplotlib names the SVG's clip paths and markers at random.
    monkeypatch.setitem(matplotlib.rcParams, "svg.hashsalt", "piecework")
    where, path = source
    topic = KafkaLog(kafka_bootstrap, Topics(where[-1]).events, "t-report")
    try:  # the parallel pass is taken (not the serial fallback)
        assert report_replay.replay(topic, 2, "EUR", None, None) is not None
    finally:
        topic.close()
    assert report_replay.replay(FileLog(path), 2, "EUR", None, None) is not None
    pages = {}
    for label, origin in (("topic", where), ("file", ["--events", str(path)])):
        outputs = []
        for jobs in ("1", "2"):
            page = tmp_path / f"{label}{jobs}.html"
            out = run(capsys, "report", "--floor", "6", "--json", *origin, *window,
                      "--html", str(page), "--jobs", jobs)  # fmt: skip
            got = json.loads(out)
            generated = got["provenance"].pop("generated")  # the minute it ran: not the log's
            outputs.append(json.dumps(got))
            pages[label, jobs] = page.read_text().replace(generated, "GENERATED")
        assert outputs[0] == outputs[1]  # byte for byte, key order included
        assert json.loads(outputs[0])["provenance"]["events"] > (100 if window else 5_000)
    assert pages["topic", "1"] == pages["topic", "2"]
    assert pages["file", "1"] == pages["file", "2"]
