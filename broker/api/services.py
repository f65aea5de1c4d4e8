"""What handlers need, wired once at start-up (see app.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from broker.api.auth import TokenStore
from broker.api.gateway import CommandGateway
from broker.api.ratelimit import RateLimiter
from broker.domain.policy import Policy
from consumers.stores.store import Reader
from runtime.settings import Settings
from schemas.limits import MAX_PAYLOAD_BYTES

# (worker_id, qualifications, limit, claim-next memory key or None)
#   -> (the memory's entries, candidate task ids best first: `limit` + the tasks in memory)
QueueReader = Callable[
    [str, tuple[str, ...], int, str | None], Awaitable[tuple[list[str], list[str]]]
]
# (keys=[memory key], args=[entry, ttl seconds]): append to a claim-next memory
Remember = Callable[..., Awaitable[Any]]


@dataclass
class Services:
    settings: Settings
    policy: Policy
    gateway: CommandGateway
    tokens: TokenStore
    redis: Redis
    views: Reader
    queue: QueueReader
    remember: Remember
    limiter: RateLimiter
    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    feed_waker: Any = None  # handlers_events makes it on the first event stream
    group_reader: Any = None  # handlers_suites makes it on the first claim from a group
    checkpoint_reader: Any = None  # handlers_checkpoint makes it on the first request
    batch_chunk: int = 500
