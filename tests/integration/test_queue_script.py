"""The API's one-round-trip queue read (a Lua script) finds what the Python query finds."""

from __future__ import annotations

import asyncio
import random
import uuid

import redis
import redis.asyncio as aioredis

from consumers.queries.queue_query import QueueScript, candidates, merge_found
from consumers.stores.redis_store import RedisStore
from consumers.views.queue import SIGS, claimed_key, open_key, signature


def test_merge_found_ranks_score_then_member() -> None:
    assert merge_found(["b 1 d 3", "a 1 c 2"], 3) == ["a", "b", "c"]
    assert merge_found([b"x 5 y 5"], 1) == ["x"]
    assert merge_found([], 4) == []


def test_script_reads_memory_and_the_same_candidates(redis_test_url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    quals = [f"q{tag}a", f"q{tag}b"]
    sigs = [signature([quals[0]]), signature(quals), signature([f"q{tag}other"])]
    db = redis.Redis.from_url(redis_test_url, decode_responses=True)
    rnd = random.Random(7)
    keys = [open_key(s) for s in sigs]
    worker, memory = f"w{tag}", f"pw:idem:claim-next:w{tag}:k"
    try:
        db.sadd(SIGS, *sigs)
        for i in range(400):  # many equal scores: ties are ordered by member
            db.zadd(keys[i % 3], {f"r{tag}:b:{i}": rnd.choice([5, 6, 7]) * 2**42 + i % 9})
        db.sadd(claimed_key(worker), *(f"r{tag}:b:{i}" for i in range(0, 400, 3)))
        db.rpush(memory, f"r{tag}:b:1 r{tag}:b:4", f"r{tag}:b:7")
        reader = RedisStore.from_url(redis_test_url)

        async def read(limit: int, mem: str | None) -> tuple[list[str], list[str]]:
            client = aioredis.Redis.from_url(redis_test_url)
            try:
                return await QueueScript(client).read(worker, quals, limit, mem)
            finally:
                await client.aclose()

        for limit in (0, 1, 5, 64, 128, 300):
            _, found = asyncio.run(read(limit, None))
            assert found == candidates(reader, worker, quals, limit), limit
        entries, found = asyncio.run(read(64, memory))
        assert entries == [f"r{tag}:b:1 r{tag}:b:4", f"r{tag}:b:7"]
        assert found == candidates(reader, worker, quals, 64 + 3)
        assert all(k.startswith(f"r{tag}") for k in found)
    finally:
        db.delete(*keys, claimed_key(worker), memory)
        db.srem(SIGS, *sigs)
