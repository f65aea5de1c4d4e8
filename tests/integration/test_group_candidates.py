"""Claim-from-a-group's read (one Lua script) against a real Redis: the group's best open
tasks in score order, past the worker's claimed ones, its qualifications, its memory."""

from __future__ import annotations

import asyncio
import uuid

import redis
import redis.asyncio as aioredis

from consumers.queries.group_candidates import GroupRead, GroupScript
from consumers.views.queue import claimed_key
from consumers.views.task_groups import meta_key, tasks_key


def _read(url: str, group: str, worker: str, limit: int,
          memory: str | None = None) -> GroupRead | None:  # fmt: skip
    async def go() -> GroupRead | None:
        client = aioredis.Redis.from_url(url)
        try:
            return await GroupScript(client).read(group, worker, limit, memory)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_group_read_skips_claimed_tasks_and_keeps_score_order(redis_test_url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    group, worker, memory = f"g{tag}", f"w{tag}", f"pw:idem:claim-next:suite:w{tag}:k"
    db = redis.Redis.from_url(redis_test_url, decode_responses=True)
    tasks = [f"r{tag}:b:{i}" for i in range(300)]
    keys = [meta_key(group), tasks_key(group), claimed_key(worker), memory]
    try:
        assert _read(redis_test_url, group, worker, 10) is None  # no meta hash: no group
        db.hset(meta_key(group), mapping={"qualifications": "de fr", "kind": "survey"})
        assert _read(redis_test_url, group, worker, 10) == GroupRead(("de", "fr"), [], [])
        # scores in reverse index order, so score order is not insertion or member order
        db.zadd(tasks_key(group), {t: 1_000 - i for i, t in enumerate(tasks)})
        by_score = list(reversed(tasks))
        db.sadd(claimed_key(worker), *by_score[0:250:2])  # most of the head is claimed
        fresh = [t for t in by_score if not db.sismember(claimed_key(worker), t)]
        for limit in (1, 7, 64, 200):
            found = _read(redis_test_url, group, worker, limit)
            assert found is not None and found.candidates == fresh[:limit], limit
        db.rpush(memory, f"{fresh[0]} {fresh[1]}", fresh[2])
        found = _read(redis_test_url, group, worker, 5, memory)
        assert found is not None
        assert found.memory == [f"{fresh[0]} {fresh[1]}", fresh[2]]
        assert found.candidates == fresh[:8]  # the limit plus the three tasks remembered
        db.hset(meta_key(group), "qualifications", "")
        assert _read(redis_test_url, group, worker, 1).qualifications == ()  # type: ignore[union-attr]
    finally:
        db.delete(*keys)
