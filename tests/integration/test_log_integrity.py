"""Hash chains, verify and signed checkpoints against a log decided by a real processor.

The lifecycle of tests/integration/test_audit.py (deposit, post, claims, approval, bonus,
rejections, dispute, overturn, credits, payout) on unique topics, exported; every kind of
tampering with the export must be named by `piecework verify`, an aborted transaction must
leave no trace in the chain, and a checkpoint must be signed, published, verified, and a
forged one refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import threading
import time
import uuid
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from kafka import KafkaConsumer, TopicPartition

from audit.verify import pack_plain
from broker.api.app import live_services, make_app
from broker.api.gateway import CommandGateway
from broker.client import Client
from broker.domain.policy import Policy
from broker.processor import port_confluent, port_kafka_python
from broker.processor.kafka_port import KafkaCallError
from consumers.timers.checkpoints import run_checkpoints
from deploy.cli import main
from deploy.topics import create_topics
from runtime.kafka_io import read_partition, snapshot_consumer
from runtime.signing import load_public, verify_checkpoint
from schemas import commands as c
from schemas.chain import Head, digest
from schemas.checkpoint import fingerprint, parse_document
from schemas.envelope import CommandEnvelope
from tests.audit_topics import drop_topics
from tests.integration.test_audit import audit_json, cli, lifecycle_deployment
from tests.live_write_side import settings_for, write_side


@pytest.fixture(scope="module")
def deployment(kafka_bootstrap: str, redis_url: str):
    yield from lifecycle_deployment(kafka_bootstrap, redis_url, "chain")


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("keys")
    private, public = where / "operator.pem", where / "operator.pub"
    assert main(["keygen", "--private", str(private), "--public", str(public)]) == 0
    return private, public


@pytest.fixture(scope="module")
def checkpoint(deployment, keys, tmp_path_factory) -> Path:
    """A checkpoint signed once the lifecycle is over, then printed as published."""
    out = tmp_path_factory.mktemp("cp") / "checkpoint.json"
    assert cli("checkpoint", deployment, "--now", "--key", str(keys[0])) == 0
    assert cli("checkpoint", deployment, "--out", str(out), "--public-key", str(keys[1])) == 0
    return out


@pytest.fixture(scope="module")
def exported(deployment, checkpoint, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("chain") / "events.jsonl"
    assert cli("export", deployment, "--out", str(path)) == 0
    return path


def count_records(bootstrap: str, topic: str, isolation: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             isolation_level=isolation)  # fmt: skip
    try:
        total = 0
        for partition in sorted(consumer.partitions_for_topic(topic) or ()):
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            end = consumer.end_offsets([tp])[tp]
            while consumer.position(tp) < end:
                total += len(consumer.poll(timeout_ms=1_000).get(tp, []))
        return total
    finally:
        consumer.close()


def verify(capsys, path: Path, *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["verify", str(path), "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def records(lines: list[dict]) -> list[list[int]]:
    """Line numbers of each Kafka record, in file order."""
    found: list[list[int]] = []
    for i, line in enumerate(lines):
        if line.get("index", 0) == 0 or "undecodable" in line:
            found.append([])
        found[-1].append(i)
    return found


def first(code_and_report: tuple[int, dict]) -> dict:
    code, report = code_and_report
    assert code == 1 and not report["ok"], report
    return report["findings"][0]


def test_every_record_is_chained_and_the_export_verifies(exported, capsys) -> None:
    lines = lines_of(exported)
    heads = [line["chain"] for line in lines if line.get("index", 0) == 0]
    assert heads and all(h is not None for h in heads)
    by_partition: dict[int, list[int]] = {}
    for line in lines:
        if line.get("index", 0) == 0:
            by_partition.setdefault(line["partition"], []).append(line["chain"]["n"])
    assert all(ns == list(range(1, len(ns) + 1)) for ns in by_partition.values())
    assert not any("value" in line for line in lines)  # re-packing the lines gives the bytes
    code, report = verify(capsys, exported)
    assert code == 0 and report["ok"] and report["records"] == len(heads), report


def test_the_chain_links_each_record_to_its_bytes(deployment, exported) -> None:
    """Recompute one partition's chain from the topic's raw bytes, independently."""
    consumer = KafkaConsumer(bootstrap_servers=deployment.kafka, isolation_level="read_committed",
                             enable_auto_commit=False)  # fmt: skip
    try:
        p = lines_of(exported)[0]["partition"]
        tp = TopicPartition(deployment.topics.events, p)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        head, seen = Head(), 0
        while consumer.position(tp) < end:
            for record in consumer.poll(timeout_ms=2_000).get(tp, []):
                head = head.next(p, digest(record.value))
                assert dict(record.headers)["pw-chain"] == head.n.to_bytes(8, "big") + head.head
                seen += 1
        assert seen > 0
    finally:
        consumer.close()


def test_audit_checks_the_chain_live_and_on_the_file(deployment, exported, capsys) -> None:
    for args in (("--no-live",), ("--events", str(exported))):
        code, report = audit_json(capsys, deployment if args[0] == "--no-live" else None, *args)
        assert code == 0 and report["ok"], report["violations"]
    tampered = lines_of(exported)
    approved = next(line for line in tampered if line["t"] == "SubmissionApproved")
    approved["d"]["reward"] += 1
    path = write(exported.parent / "audit-tampered.jsonl", tampered)
    code, report = audit_json(capsys, None, "--events", str(path))
    assert code == 1 and "chain" in {v["check"] for v in report["violations"]}


def test_an_edited_reward_is_named(exported, capsys) -> None:
    lines = lines_of(exported)
    approved = next(line for line in lines if line["t"] == "SubmissionApproved")
    approved["d"]["reward"] += 1
    found = first(verify(capsys, write(exported.parent / "edited.jsonl", lines)))
    assert found["kind"] == "edited"
    assert (found["partition"], found["offset"]) == (approved["partition"], approved["offset"])


def test_a_dropped_rejection_is_named_at_the_gap(exported, capsys) -> None:
    lines = lines_of(exported)
    groups = records(lines)
    at = next(i for i, g in enumerate(groups) if lines[g[0]]["t"] == "SubmissionRejected")
    following = lines[groups[at + 1][0]]  # the walt rejection is followed by wendy's
    assert following["partition"] == lines[groups[at][0]]["partition"]
    kept = [line for i, line in enumerate(lines) if i not in groups[at]]
    found = first(verify(capsys, write(exported.parent / "dropped.jsonl", kept)))
    assert found["kind"] == "removed"
    assert (found["partition"], found["offset"]) == (following["partition"], following["offset"])


@pytest.mark.parametrize("header", ["copied", "none"])
def test_an_inserted_payment_is_named(exported, capsys, header: str) -> None:
    lines = lines_of(exported)
    groups = records(lines)
    at = next(i for i, g in enumerate(groups) if lines[g[0]]["t"] == "PayoutIssued")
    original = lines[groups[at][0]]
    forged = {**original, "id": original["id"] + "-again", "seq": original["seq"] + 1,
              "offset": original["offset"] + 1, "index": 0}  # fmt: skip
    forged["chain"] = original["chain"] if header == "copied" else None
    where = groups[at][-1] + 1
    tampered = [*lines[:where], forged, *lines[where:]]
    found = first(verify(capsys, write(exported.parent / f"inserted-{header}.jsonl", tampered)))
    assert found["kind"] == "inserted"
    assert (found["partition"], found["offset"]) == (forged["partition"], forged["offset"])


def test_two_swapped_records_are_named(exported, capsys) -> None:
    lines = lines_of(exported)
    groups = records(lines)
    same = [lines[g[0]]["partition"] for g in groups]
    at = next(i for i in range(len(groups) - 1) if same[i] == same[i + 1])
    a, b = groups[at], groups[at + 1]
    swapped = [*lines[: a[0]], *(lines[i] for i in b), *(lines[i] for i in a), *lines[b[-1] + 1 :]]
    found = first(verify(capsys, write(exported.parent / "swapped.jsonl", swapped)))
    assert found["kind"] == "reordered"
    assert (found["partition"], found["offset"]) == (lines[b[0]]["partition"],
                                                     lines[b[0]]["offset"])  # fmt: skip


def test_a_truncated_end_passes_alone_and_fails_against_the_checkpoint(
    exported, checkpoint, keys, capsys
) -> None:
    lines = lines_of(exported)
    last = lines[records(lines)[-1][0]]
    cut = [line for line in lines if (line["partition"], line["offset"])
           != (last["partition"], last["offset"])]  # fmt: skip
    path = write(exported.parent / "truncated.jsonl", cut)
    assert verify(capsys, path)[0] == 0  # a chain alone cannot see records cut off its end
    found = first(verify(capsys, path, "--checkpoint", str(checkpoint), "--public-key",
                         str(keys[1])))  # fmt: skip
    assert found["kind"] == "truncated" and found["partition"] == last["partition"]


def test_a_recomputed_chain_passes_alone_and_fails_against_the_checkpoint(
    exported, checkpoint, keys, capsys
) -> None:
    """A forger who edits a reward and recomputes every later link (the chain has no key)."""
    lines = lines_of(exported)
    approved = next(line for line in lines if line["t"] == "SubmissionApproved")
    approved["d"]["reward"] += 1
    heads: dict[int, Head] = {}
    for group in records(lines):
        head_line = lines[group[0]]
        p = head_line["partition"]
        maps = [{k: v for k, v in lines[i].items()
                 if k not in ("partition", "offset", "index", "chain")} for i in group]  # fmt: skip
        heads[p] = heads.get(p, Head()).next(p, digest(pack_plain(maps)))
        head_line["chain"] = heads[p].to_json()
    path = write(exported.parent / "recomputed.jsonl", lines)
    assert verify(capsys, path)[0] == 0
    found = first(verify(capsys, path, "--checkpoint", str(checkpoint), "--public-key",
                         str(keys[1])))  # fmt: skip
    assert found["kind"] == "rewritten" and found["partition"] == approved["partition"]


def test_the_export_reproduces_the_signed_checkpoint(exported, checkpoint, keys, capsys) -> None:
    code, report = verify(capsys, exported, "--checkpoint", str(checkpoint), "--public-key",
                          str(keys[1]))  # fmt: skip
    assert code == 0 and report["ok"] and report["checkpoint"], report
    published = json.loads(checkpoint.read_text())["checkpoint"]
    assert {int(p): m["n"] for p, m in published["partitions"].items() if m["n"]} == {
        int(p): h["n"] for p, h in report["heads"].items()}  # fmt: skip
    _, audited = audit_json(capsys, None, "--events", str(exported))
    assert published["totals"] == audited["money"]  # the same money, signed


def test_a_forged_or_altered_checkpoint_is_refused(exported, checkpoint, keys, capsys,
                                                   tmp_path) -> None:  # fmt: skip
    document = json.loads(checkpoint.read_text())
    altered = json.loads(json.dumps(document))
    currency = next(iter(altered["checkpoint"]["totals"]))
    altered["checkpoint"]["totals"][currency]["payouts"] += 1
    (tmp_path / "altered.json").write_text(json.dumps(altered))
    other_private, other_public = tmp_path / "other.pem", tmp_path / "other.pub"
    assert main(["keygen", "--private", str(other_private), "--public", str(other_public)]) == 0
    for cp, key in ((tmp_path / "altered.json", keys[1]), (checkpoint, other_public)):
        capsys.readouterr()
        code = main(["verify", str(exported), "--checkpoint", str(cp), "--public-key", str(key)])
        assert code == 1
        assert "checkpoint refused" in capsys.readouterr().err


def test_an_aborted_transaction_leaves_no_trace_in_the_chain(
    kafka_bootstrap, redis_url, monkeypatch, tmp_path, capsys
) -> None:
    """The third commit fails after its records reached the partition: the transaction is
    aborted, the batch decided again, and the chain links only what was committed."""
    settings = settings_for(kafka_bootstrap, redis_url, f"t.chain.abort.{uuid.uuid4().hex[:8]}")
    calls = {"n": 0}

    def failing(real_commit):  # type: ignore[no-untyped-def]
        def commit(producer) -> None:  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] == 3:  # the processor flushed before committing: records are there
                raise KafkaCallError("injected: the commit failed after the records were sent")
            real_commit(producer)

        return commit

    # whichever client PIECEWORK_PROCESSOR_CLIENT picks, behind the processor's port
    for port in (port_confluent.Producer, port_kafka_python.Producer):
        monkeypatch.setattr(port, "commit", failing(port.commit))

    async def run() -> None:
        async with CommandGateway(settings) as gateway:
            for n in range(6):
                env = CommandEnvelope(f"dep-{n}", "acme", "requester", f"dep-{n}",
                                      c.DepositFunds("acme", 1_000 + n, "EUR"))  # fmt: skip
                assert (await gateway.send(env)).accepted

    try:
        with write_side(settings):
            asyncio.run(run())
        # the aborted records are in the partition: only a read_uncommitted reader sees them
        total_uncommitted = count_records(settings.kafka, settings.topics.events,
                                          "read_uncommitted")  # fmt: skip
        path = tmp_path / "aborted.jsonl"
        assert cli("export", settings, "--out", str(path)) == 0
        committed = [line for line in lines_of(path) if line.get("index", 0) == 0]
        assert len(committed) == 6 and total_uncommitted > len(committed)
        assert [line["chain"]["n"] for line in committed] == list(range(1, 7))
        code, report = verify(capsys, path)
        assert code == 0, report
        code, report = audit_json(capsys, settings, "--no-live")
        assert code == 0, report["violations"]
    finally:
        drop_topics(kafka_bootstrap, settings.topics.prefix)


@pytest.fixture(scope="module")
def pseudonymised(deployment, exported, tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("pseudo")
    (where / "key").write_bytes(b"k" * 32)
    path = where / "pseudonymised.jsonl"
    assert cli("export", deployment, "--out", str(path), "--pseudonymise", "--key-file",
               str(where / "key")) == 0  # fmt: skip
    return path


def report_json(capsys, path: Path) -> dict:
    capsys.readouterr()
    assert main(["report", "--events", str(path), "--json", "--floor", "7.25"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_pseudonymised_export_audits_and_reports_the_same_figures(
    exported, pseudonymised, capsys
) -> None:
    code, full = audit_json(capsys, None, "--events", str(exported))
    code_p, pseudo = audit_json(capsys, None, "--events", str(pseudonymised))
    assert code == 0 and code_p == 0 and pseudo["ok"], pseudo["violations"]
    assert pseudo["money"] == full["money"] and pseudo["events"] == full["events"]
    assert pseudo["aggregates"] == full["aggregates"]
    full_report, pseudo_report = report_json(capsys, exported), report_json(capsys, pseudonymised)

    def figures(value):  # the same numbers, whoever they are about
        if isinstance(value, dict):
            return sorted((figures(v) for v in value.values()), key=repr)
        if isinstance(value, list):
            return sorted((figures(v) for v in value), key=repr)
        return value if isinstance(value, int | float | bool) or value is None else "s"

    assert figures(pseudo_report) == figures(full_report)
    assert pseudo_report != full_report  # the names did change


def test_a_pseudonymised_export_holds_no_identity_payload_or_answer(
    exported, pseudonymised, capsys, tmp_path
) -> None:
    original = lines_of(exported)
    secrets: set[str] = set()
    for line in original:
        secrets.update({line["actor"], line["cmd"], line["corr"], line["id"]})
        d = line["d"]
        for name in ("requester_id", "worker_id", "batch_id", "payout_id", "title", "reason"):
            if d.get(name):
                secrets.add(d[name])
        for name in ("payload", "answer"):
            if d.get(name) is not None:
                secrets.add(json.dumps(d[name], separators=(",", ":")))
                secrets.update(v for v in d[name].values() if isinstance(v, str))
    assert {"acme", "wanda", "walt", "wendy", "olga", "cat", "1.png"} <= secrets
    data = pseudonymised.read_bytes()
    # A short value ("cat", "b1") is found inside words and hex by chance: look for it as
    # a JSON string or an id component; anything of 4 characters or more, anywhere.
    leaked = sorted(s for s in secrets if any(form.encode() in data for form in (
        [s] if len(s) >= 4 else [f'"{s}"', f":{s}:", f'"{s}:', f':{s}"'])))  # fmt: skip
    assert not leaked
    # verify still checks every link, from the records' own digests
    code, report = verify(capsys, pseudonymised)
    assert code == 0 and report["records"] == verify(capsys, exported)[1]["records"]
    lines = lines_of(pseudonymised)
    lines[next(i for i, line in enumerate(lines) if "digest" in line)]["digest"] = "00" * 32
    assert first(verify(capsys, write(tmp_path / "p-edited.jsonl", lines)))["kind"] == "edited"


def test_two_keys_give_unlinkable_pseudonyms(deployment, pseudonymised, tmp_path) -> None:
    (tmp_path / "other").write_bytes(b"q" * 32)
    other = tmp_path / "other.jsonl"
    assert cli("export", deployment, "--out", str(other), "--pseudonymise", "--key-file",
               str(tmp_path / "other")) == 0  # fmt: skip
    actors = [{line["actor"] for line in lines_of(path)} for path in (pseudonymised, other)]
    assert len(actors[0]) == len(actors[1]) and not actors[0] & actors[1]


def test_the_timer_role_signs_a_checkpoint_every_period(deployment, keys) -> None:
    """run_checkpoints, as the timer role starts it: signed, chained to the one before."""
    settings = dataclasses.replace(deployment, checkpoint_key=str(keys[0]), checkpoint_seconds=1)
    consumer = snapshot_consumer(settings.kafka, "test-checkpoints")

    def documents() -> list:
        return [parse_document(r.value)
                for r in read_partition(consumer, settings.topics.checkpoints, 0)]  # fmt: skip

    before = len(documents())
    stop = threading.Event()
    thread = threading.Thread(target=run_checkpoints, args=(settings, stop), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(documents()) < before + 2 and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop.set()
        thread.join(timeout=30)
    found = documents()
    consumer.close()
    assert len(found) >= before + 2
    public = load_public(keys[1])
    for earlier, later in itertools.pairwise(found):
        verify_checkpoint(later, public)
        assert later.checkpoint.previous == fingerprint(earlier.checkpoint.signed_bytes())
    assert found[-1].checkpoint.heads() == found[-2].checkpoint.heads()  # a quiet log


def test_the_api_serves_the_latest_checkpoint_exactly_as_signed(deployment, checkpoint,
                                                                  keys) -> None:  # fmt: skip
    """GET /v1/checkpoint, public, through the Python client: it verifies with the key."""
    empty = settings_for(deployment.kafka, deployment.redis, f"{deployment.topics.prefix}.none")
    create_topics(empty.kafka, empty.topics.creation_configs(), empty.partitions)

    async def fetch(settings) -> tuple[int, dict, dict | None]:  # type: ignore[no-untyped-def]
        app = make_app(live_services(settings, Policy()), max_body_bytes=1 << 20)
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/v1/checkpoint")
            body = await response.json()
            via_client = None
            if response.status == 200:
                async with Client(str(client.make_url("/")).rstrip("/")) as python_client:
                    via_client = await python_client.checkpoint()
            return response.status, body, via_client

    status, body, via_client = asyncio.run(fetch(deployment))
    assert status == 200 and via_client == body
    published = json.loads(checkpoint.read_text())
    # the latest (the timer test may have signed later ones): the same heads, a quiet log
    assert body["checkpoint"]["partitions"] == published["checkpoint"]["partitions"]
    assert body["key_id"] == published["key_id"]
    verify_checkpoint(parse_document(json.dumps(body).encode()), load_public(keys[1]))
    status, body, _ = asyncio.run(fetch(empty))
    assert status == 404 and body["code"] == "not_found", body


def test_a_pseudonymised_amount_edit_is_caught_by_the_signed_totals(
    pseudonymised, checkpoint, keys, capsys, tmp_path
) -> None:
    """Its digests cover the original records, not the pseudonymised lines: an amount
    edited in a line passes the chain alone, and fails against the checkpoint's totals."""
    signed = ["--checkpoint", str(checkpoint), "--public-key", str(keys[1])]
    assert verify(capsys, pseudonymised, *signed)[0] == 0
    lines = lines_of(pseudonymised)
    payout = next(line for line in lines if line["t"] == "PayoutIssued")
    payout["d"]["amount"] -= 1
    path = write(tmp_path / "p-amount.jsonl", lines)
    assert verify(capsys, path)[0] == 0  # what a pseudonymised file alone cannot show
    found = first(verify(capsys, path, *signed))
    assert found["kind"] == "money" and "EUR payouts" in found["message"], found
