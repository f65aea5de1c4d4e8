"""The audit against the real write side: export, import, replay, and live views in Redis.

One lifecycle is decided by a real processor on unique topics (deposit, post, claims,
submissions, approval, bonus, rejections, a dispute and an overturn, credits through the
outbox, a payout), then every way of auditing it must agree, and every tampering fail.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from audit.live import snapshot
from broker.api.gateway import CommandGateway
from consumers.engine.runner import digests, fold_log
from consumers.stores.redis_store import RedisStore
from consumers.views.ledger import worker_key
from deploy.cli import main
from deploy.topics import create_topics
from runtime.kafka_io import read_topic
from schemas import commands as c
from schemas.codec import decode_events, decode_positioned
from schemas.envelope import CommandEnvelope
from tests.audit_topics import drop_topics
from tests.live_write_side import settings_for, write_side

AUDIT_DB = 12
R, WORKERS = "acme", ("wanda", "walt", "wendy")


def read_log(settings) -> list:
    """(partition, position, event) records of the whole events topic."""
    return [rec for r in read_topic(settings.kafka, settings.topics.events)
            for rec in decode_positioned(r.partition, r.offset, r.value)]  # fmt: skip


def wait_for_credits(settings, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = [e for r in read_topic(settings.kafka, settings.topics.events)
                  for e in decode_events(r.value)]  # fmt: skip
        if sum(e.type == "WorkerCredited" for e in events) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{count} credits did not arrive through the outbox")


async def lifecycle(gateway: CommandGateway) -> None:
    n = 0

    async def send(actor: tuple[str, str], command) -> dict:
        nonlocal n
        n += 1
        env = CommandEnvelope(f"audit-{n}", actor[1], actor[0], f"audit-{n}", command)
        reply = await gateway.send(env)
        assert reply.accepted, reply
        return reply.result

    requester, operator = ("requester", R), ("operator", "olga")
    await send(requester, c.DepositFunds(R, 10_000_000, "EUR"))
    spec = c.TaskSpec(kind="image_labelling", reward=50_000, currency="EUR",
                      estimated_seconds=30, assignments=3, payload={"img": "1.png"})  # fmt: skip
    (task,) = (await send(requester, c.PostTasks(R, "b1", (spec,))))["task_ids"]
    subs = {}
    for w in WORKERS:
        claim = (await send(("worker", w), c.ClaimTask(task, w)))["claim_id"]
        done = await send(("worker", w), c.SubmitWork(task, claim, w, {"label": "cat"}))
        subs[w] = done["submission_id"]
    await send(requester, c.ApproveSubmission(task, subs["wanda"], R))
    await send(requester, c.GrantBonus(task, "wanda", R, 5_000, "great"))
    for w in ("walt", "wendy"):
        await send(requester, c.RejectSubmission(task, subs[w], R, "wrong"))
    await send(("worker", "wendy"), c.DisputeRejection(task, subs["wendy"], "wendy", "right"))
    await send(operator, c.OverturnRejection(task, subs["wendy"]))
    wait_for_credits(gateway.settings, 3)  # approval, bonus and overturn
    await send(operator, c.IssuePayout("wanda", "p1", 40_000, "EUR"))


def lifecycle_deployment(kafka_bootstrap: str, redis_url: str, label: str):
    """Settings of a deployment (unique topic prefix) whose log holds the lifecycle; its
    topics (and those of its .copy and .p3 deployments) are dropped afterwards."""
    settings = settings_for(kafka_bootstrap, redis_url, f"t.{label}.{uuid.uuid4().hex[:8]}")

    async def run() -> None:
        async with CommandGateway(settings) as gateway:
            await lifecycle(gateway)

    with write_side(settings):
        asyncio.run(run())
    yield settings
    drop_topics(kafka_bootstrap, settings.topics.prefix)


@pytest.fixture(scope="module")
def deployment(kafka_bootstrap: str, redis_url: str):
    yield from lifecycle_deployment(kafka_bootstrap, redis_url, "audit")


@pytest.fixture(scope="module")
def exported(deployment, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("audit") / "events.jsonl"
    assert cli("export", deployment, "--out", str(path)) == 0
    return path


@pytest.fixture
def audit_redis(redis_url: str):
    """Redis DB 12, flushed: the live views of this test, as the Faust worker writes them."""
    url = urlunsplit(urlsplit(redis_url)._replace(path=f"/{AUDIT_DB}"))
    client = redis.Redis.from_url(url, decode_responses=True)
    client.flushdb()
    yield url, client
    client.flushdb()
    client.close()


def cli(command: str, settings, *args: str) -> int:
    """`piecework <command>` in-process, on the deployment of `settings` (None: no broker)."""
    where = (
        [] if settings is None else ["--kafka", settings.kafka, "--prefix", settings.topics.prefix]
    )
    return main([command, *where, *args])


def audit_json(capsys, settings, *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = cli("audit", settings, "--json", *args)
    return code, json.loads(capsys.readouterr().out)


def test_export_then_audit_of_the_file_is_clean(exported: Path, capsys) -> None:
    lines = exported.read_text().splitlines()
    assert len(lines) == 19 and all(json.loads(line)["partition"] >= 0 for line in lines)
    code, report = audit_json(capsys, None, "--events", str(exported))
    assert code == 0 and report["ok"], report["violations"]
    assert report["events"] == 19 and report["pending_credits"] == 0
    assert report["views_match"] is None and report["aggregates"] == {
        "requester": 1, "task": 1, "worker": 2}  # fmt: skip


def test_audit_from_kafka_is_clean_and_matches_the_file(deployment, exported, capsys) -> None:
    _, from_file = audit_json(capsys, None, "--events", str(exported))
    code, report = audit_json(capsys, deployment, "--no-live")
    assert code == 0 and report["ok"] and report["events"] == 19
    assert report["digests"] == from_file["digests"] and report["dead_letters"] == {}


def test_live_views_match_until_one_redis_key_is_corrupted(deployment, audit_redis, capsys) -> None:
    url, client = audit_redis
    log = read_log(deployment)
    fold_log(log, RedisStore(client))  # what the Faust views worker does
    # the audit's atomic (Lua) read of a view digests it exactly as the store's own dump
    assert snapshot(RedisStore(client)).digests == digests(RedisStore(client))
    code, report = audit_json(capsys, deployment, "--redis", url)
    assert code == 0 and report["views_match"] is True, (report["violations"], report["views_note"])
    assert report["live_digests"] == report["digests"] and report["views_note"] == "caught up"
    client.hincrby(worker_key("wanda", "EUR"), "balance", 1)
    code, report = audit_json(capsys, deployment, "--redis", url)
    assert code == 1 and report["views_match"] is False
    assert [v["check"] for v in report["violations"]] == ["views"]
    assert report["violations"][0]["message"].startswith("view ledger:")


def test_live_views_behind_the_log_are_compared_at_their_own_offsets(
    deployment, audit_redis, capsys
) -> None:
    url, client = audit_redis
    log = read_log(deployment)
    fold_log(log[:-3], RedisStore(client))  # the worker has not seen the last three yet
    code, report = audit_json(capsys, deployment, "--redis", url)
    assert code == 0 and report["views_match"] is True
    assert report["live_digests"] != report["digests"] and "behind" in report["views_note"]


def test_until_skips_the_views_comparison(deployment, capsys) -> None:
    first_at = min(env.occurred_at for _, _, env in read_log(deployment))
    code, report = audit_json(capsys, deployment, "--until", str(first_at))
    assert code == 0 and 0 < report["events"] < 19 and report["views_match"] is None
    assert "--until" in report["views_note"]


def test_import_into_fresh_topics_rebuilds_the_same_views(deployment, exported, capsys) -> None:
    copy = settings_for(deployment.kafka, deployment.redis, f"{deployment.topics.prefix}.copy")
    create_topics(copy.kafka, copy.topics.creation_configs(), copy.partitions)
    assert cli("import", copy, str(exported)) == 0
    _, original = audit_json(capsys, deployment, "--no-live")
    code, report = audit_json(capsys, copy, "--no-live")
    assert code == 0 and report["ok"] and report["digests"] == original["digests"]

    def keyed(settings) -> dict:
        return {(r.partition, env.event_id): r.key
                for r in read_topic(settings.kafka, settings.topics.events)
                for env in decode_events(r.value)}  # fmt: skip

    assert keyed(copy) == keyed(deployment)  # same partitions, same keys
    assert cli("import", copy, str(exported)) == 2  # the target is no longer empty
    assert cli("import", copy, str(exported), "--resume") == 0  # nothing missing: no-op
    assert len(keyed(copy)) == 19


def test_import_refuses_a_topic_with_another_partition_count(deployment, exported) -> None:
    other = settings_for(deployment.kafka, deployment.redis, f"{deployment.topics.prefix}.p3", 3)
    create_topics(other.kafka, other.topics.creation_configs(), 3)
    assert cli("import", other, str(exported)) == 2
    assert list(read_topic(other.kafka, other.topics.events)) == []


def test_a_tampered_export_fails_the_audit_with_a_money_violation(
    exported: Path, tmp_path: Path, capsys
) -> None:
    lines = exported.read_text().splitlines()
    for i, line in enumerate(lines):
        record = json.loads(line)
        if record["t"] == "SubmissionApproved":
            record["d"]["reward"] += 1
            lines[i] = json.dumps(record)
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(lines) + "\n")
    code, report = audit_json(capsys, None, "--events", str(tampered))
    assert code == 1 and not report["ok"]
    assert "money" in {v["check"] for v in report["violations"]}, report["violations"]
