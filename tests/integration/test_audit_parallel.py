"""The parallel audit on a real topic: the same report and chain findings as the serial one,
read live from Kafka and from an export of it (audit/parallel.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaProducer

from audit import parallel
from audit.logfile import export
from audit.run import Options, audit
from audit.source import FileLog, KafkaLog
from audit.verify import follow_live, kafka_chain_fields, verify_file
from schemas.chain import Head, digest, encode_header
from testkit.replay_log import encode_log, make_log

PARTITIONS = 4


def same(a, b) -> None:
    left, right = a.to_json(), b.to_json()
    for timing in ("seconds", "events_per_second"):
        left.pop(timing), right.pop(timing)
    assert left == right


@pytest.fixture
def topic(kafka_bootstrap: str, create_topic) -> str:
    """A realistic log written with its hash chain, one record's content edited after."""
    name = create_topic("events", partitions=PARTITIONS)
    raws = encode_log(make_log(6_000, partitions=PARTITIONS))
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    heads = {p: Head() for p in range(PARTITIONS)}
    edited = False
    for n, (p, _, value) in enumerate(sorted(raws, key=lambda r: (r[0], r[1]))):
        heads[p] = heads[p].next(p, digest(value))
        if n >= 777 and not edited and b"EUR" in value:  # chained, then changed: `edited`
            value, edited = value.replace(b"EUR", b"EUX", 1), True
        header = [("pw-chain", encode_header(heads[p].n, heads[p].head))]
        producer.send(name, value=value, partition=p, headers=header)
    producer.flush()
    producer.close()
    return name


def _live(bootstrap: str, topic: str, jobs: int):
    log = KafkaLog(bootstrap, topic)
    chain = follow_live(log)
    try:
        report = audit(log, Options(no_live_reason="test", jobs=jobs))
    finally:
        log.close()
    return report, [b.verdict() for b in chain.findings()], chain.heads()


def test_live_and_exported_audits_match_the_serial_ones(
    kafka_bootstrap: str, topic: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel, "SERIAL_BELOW", 0)
    log = KafkaLog(kafka_bootstrap, topic)
    follow_live(log)
    try:
        assert parallel.replay(log, 2, {"grace_ms": 60_000, "strict": False, "until": None},
                               None) is not None  # fmt: skip
    finally:
        log.close()
    serial, serial_chain, serial_heads = _live(kafka_bootstrap, topic, 1)
    assert serial.events > 5_000 and serial.partitions == PARTITIONS
    assert len(serial_chain) == 1 and serial_chain[0].startswith("edited")
    report, chain, heads = _live(kafka_bootstrap, topic, 2)
    same(serial, report)
    assert (chain, heads) == (serial_chain, serial_heads)

    path = tmp_path / "events.jsonl"
    log = KafkaLog(kafka_bootstrap, topic, "piecework-export")
    with path.open("w") as out:
        export(log, out, None, kafka_chain_fields(log))
    log.close()
    from_file = audit(FileLog(path), Options(no_live_reason="file"))
    same(from_file, audit(FileLog(path), Options(no_live_reason="file", jobs=2)))
    assert from_file.money == serial.money and from_file.digests == serial.digests
    assert [b.verdict() for b in verify_file(path).findings] == serial_chain
