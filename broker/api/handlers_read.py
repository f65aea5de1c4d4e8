"""Read endpoints over the materialized views in Redis (eventually consistent with the log).

The view readers are synchronous (shared with replay and the audit), so they run in the
loop's default thread pool: one Redis round trip each, the loop never blocks.
"""

from __future__ import annotations

import asyncio
from functools import partial

from broker.api.services import CandidateFinder
from consumers.queue_query import candidates
from consumers.redis_store import RedisStore


def queue_candidates(redis_url: str) -> CandidateFinder:
    store = RedisStore.from_url(redis_url)

    async def find(worker_id: str, qualifications: tuple[str, ...], limit: int) -> list[str]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, partial(candidates, store, worker_id, qualifications, limit)
        )

    return find
