"""Per-actor API tokens, stored hashed in Redis; who may call what.

Only the SHA-256 of a token is stored, so a Redis dump leaks no usable secret. Tokens are
random 32-byte values: a fast hash is enough, there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from schemas import rules

TOKENS_KEY = "pw:auth:tokens"  # hash: sha256(token) -> "role|actor_id|qual1,qual2"
ACTORS_KEY = "pw:auth:actors"  # hash: actor_id -> role (ids are unique across roles)
ROLES = ("requester", "worker", "operator")


@dataclass(frozen=True, slots=True)
class Actor:
    actor_id: str
    role: str
    qualifications: tuple[str, ...] = ()


class AuthError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _encode(actor: Actor) -> str:
    return f"{actor.role}|{actor.actor_id}|{','.join(actor.qualifications)}"


def _decode(value: str) -> Actor:
    role, actor_id, quals = value.split("|", 2)
    return Actor(actor_id, role, tuple(q for q in quals.split(",") if q))


class TokenStore:
    # Tokens are never revoked today, so a short in-process cache only saves a Redis
    # round trip per request; the TTL bounds staleness once revocation exists.
    CACHE_SECONDS = 30.0

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._cache: dict[str, tuple[Actor, float]] = {}

    async def register(self, actor: Actor) -> str:
        """Create an actor and return its token (shown once, never stored in clear)."""
        rules.ident("actor_id", actor.actor_id)
        if actor.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        for q in actor.qualifications:
            rules.ident("qualification", q)
        if not await self.redis.hsetnx(ACTORS_KEY, actor.actor_id, actor.role):
            raise AuthError(409, "actor_exists", f"actor {actor.actor_id!r} already exists")
        token = secrets.token_urlsafe(32)
        await self.redis.hset(TOKENS_KEY, token_digest(token), _encode(actor))
        return token

    async def install(self, token: str, actor: Actor) -> None:
        """Register a known token (the operator's bootstrap token from the environment)."""
        await self.redis.hset(ACTORS_KEY, actor.actor_id, actor.role)
        await self.redis.hset(TOKENS_KEY, token_digest(token), _encode(actor))

    async def authenticate(self, header: str | None) -> Actor:
        if not header or not header.startswith("Bearer "):
            raise AuthError(401, "unauthenticated", "send Authorization: Bearer <token>")
        digest = token_digest(header[7:].strip())
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        value = await self.redis.hget(TOKENS_KEY, digest)
        if value is None:
            raise AuthError(401, "unauthenticated", "unknown token")
        actor = _decode(value.decode() if isinstance(value, bytes) else value)
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[digest] = (actor, now + self.CACHE_SECONDS)
        return actor


def require_role(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        raise AuthError(403, "forbidden", f"this call is for {' or '.join(roles)}s")
