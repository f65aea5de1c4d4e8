"""What handlers need, wired once at start-up (see app.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from broker.api.auth import TokenStore
from broker.api.gateway import CommandGateway
from broker.api.ratelimit import RateLimiter
from broker.config import Settings
from broker.domain.policy import Policy
from consumers.store import Reader

# (worker_id, qualifications, limit) -> candidate task ids, best first
CandidateFinder = Callable[[str, tuple[str, ...], int], Awaitable[list[str]]]


@dataclass
class Services:
    settings: Settings
    policy: Policy
    gateway: CommandGateway
    tokens: TokenStore
    redis: Redis
    views: Reader
    candidates: CandidateFinder
    limiter: RateLimiter
    max_payload_bytes: int = 16 * 1024
    batch_chunk: int = 500
