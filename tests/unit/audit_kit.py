"""Logs for the audit's tests: one consistent lifecycle decided by the real domain, and
small tools to break it in exactly one way.

Records are routed like the real topic: each event to its key's partition (requester for
account and task events, worker for wallet events), offsets counting up per partition.
"""

from __future__ import annotations

import zlib
from typing import Any

import msgspec

from audit.logfile import event_key
from broker.domain.stamping import aggregate_of
from schemas import commands as c
from schemas.envelope import EventEnvelope
from schemas.positions import Positioned
from tests.unit.domain_kit import OPERATOR, T0, Market

PARTITIONS = 3
R, WORKERS = "acme", ("wanda", "walt", "wendy")


def partition_of(env: EventEnvelope) -> int:
    return zlib.crc32(event_key(env)) % PARTITIONS


def as_records(envs: list[EventEnvelope]) -> list[Positioned]:
    offsets = [0] * PARTITIONS
    out = []
    for env in envs:
        p = partition_of(env)
        out.append((p, offsets[p], env))
        offsets[p] += 1
    return out


def lifecycle(deliver: bool = True) -> Market:
    """acme posts a 3-assignment task; wanda is approved and gets a bonus, walt is rejected,
    wendy is rejected then overturned; credits are delivered and wanda is paid out 40_000."""
    m, at = Market(), T0
    m.send(c.DepositFunds(R, 10_000_000, "EUR"), ("requester", R), at)
    spec = c.TaskSpec(kind="image_labelling", reward=50_000, currency="EUR",
                      estimated_seconds=30, assignments=3, payload={"img": 1})  # fmt: skip
    task = m.send(c.PostTasks(R, "b1", (spec,)), ("requester", R), at).reply.result["task_ids"][0]
    subs = {}
    for w in WORKERS:
        claim = m.send(c.ClaimTask(task, w), ("worker", w), at + 1_000).reply.result["claim_id"]
        reply = m.send(c.SubmitWork(task, claim, w, {"label": "cat"}), ("worker", w), at + 60_000)
        subs[w] = reply.reply.result["submission_id"]
    m.send(c.ApproveSubmission(task, subs["wanda"], R), ("requester", R), at + 120_000)
    m.send(c.GrantBonus(task, "wanda", R, 5_000, "great"), ("requester", R), at + 121_000)
    for w in ("walt", "wendy"):
        m.send(c.RejectSubmission(task, subs[w], R, "wrong"), ("requester", R), at + 122_000)
    m.send(
        c.DisputeRejection(task, subs["wendy"], "wendy", "right"), ("worker", "wendy"), at + 130_000
    )
    m.send(c.OverturnRejection(task, subs["wendy"]), OPERATOR, at + 140_000)
    if deliver:
        while m.outbox:
            m.deliver(0, at + 150_000)
        m.send(c.IssuePayout("wanda", "p1", 40_000, "EUR"), OPERATOR, at + 160_000)
    for env in m.log:
        assert env.occurred_at >= T0
    return m


def good_log(deliver: bool = True) -> list[Positioned]:
    return as_records(lifecycle(deliver).log)


def envs(records: list[Positioned]) -> list[EventEnvelope]:
    return [env for _, _, env in records]


def first(records: list[Positioned], kind: type) -> EventEnvelope:
    return next(env for _, _, env in records if isinstance(env.event, kind))


def with_event(env: EventEnvelope, **changes: Any) -> EventEnvelope:
    return msgspec.structs.replace(env, event=msgspec.structs.replace(env.event, **changes))


def replaced(records: list[Positioned], old: EventEnvelope, new: EventEnvelope) -> list[Positioned]:
    return as_records([new if env is old else env for env in envs(records)])


def appended(
    records: list[Positioned], event: Any, event_id: str, at: int = T0 + 200_000
) -> list[Positioned]:
    """`event` added at the end of its aggregate, with the next sequence: well-formed."""
    agg = aggregate_of(event)
    seq = 1 + max((e.sequence for e in envs(records) if e.aggregate_id == agg), default=0)
    env = EventEnvelope(event_id, agg, seq, at, event_id, event_id, event_id, "test", event)
    return as_records([*envs(records), env])
