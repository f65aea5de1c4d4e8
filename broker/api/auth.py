"""Per-actor API tokens, stored hashed in Redis; who may call what.

Only the SHA-256 of a token is stored, so a Redis dump leaks no usable secret. Tokens are
random 32-byte values: a fast hash is enough, there is nothing to brute-force. An actor
may hold several tokens; operators issue, rotate and revoke them by token id (a prefix
of the digest). Layout and scripts: broker/api/token_keys.py; bound: TokenStore.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from broker.api import token_keys as tk
from schemas import rules

TOKENS_KEY = tk.TokenKeys().tokens  # hash: sha256(token) -> "role|actor_id|qual1,qual2"
ACTORS_KEY = tk.TokenKeys().actors  # hash: actor_id -> role (ids are unique across roles)
ROLES = ("requester", "worker", "operator")


@dataclass(frozen=True, slots=True)
class Actor:
    actor_id: str
    role: str
    qualifications: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Issued:
    token: str  # shown once, never stored in clear
    token_id: str
    revoked: list[str]  # token ids


class AuthError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(digest: str) -> str:
    """The public name of a token: enough to list and revoke it, useless to call with."""
    return digest[: tk.TOKEN_ID_HEX]


def _encode(actor: Actor) -> str:
    return f"{actor.role}|{actor.actor_id}|{','.join(actor.qualifications)}"


def _decode(value: str) -> Actor:
    role, actor_id, quals = value.split("|", 2)
    return Actor(actor_id, role, tuple(q for q in quals.split(",") if q))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class TokenStore:
    """Tokens in Redis (layout: broker.api.token_keys), with a short in-process cache.

    The cache saves a Redis round trip for a token that calls often. Its TTL is the bound
    on revocation: a token revoked anywhere is refused by every API process at most
    CACHE_SECONDS after the revocation returned (at once by the process that revoked it).
    """

    # Was 30 s while nothing could be revoked; the cost of 0.5 s (one HGET per token per
    # half second per process at most) is measured in docs/DESIGN.md, "Tokens".
    CACHE_SECONDS = 0.5

    def __init__(self, redis: Redis, namespace: str = tk.NAMESPACE) -> None:
        self.redis = redis
        self.keys = tk.TokenKeys(namespace)
        self._cache: dict[str, tuple[Actor, float]] = {}
        self._register = redis.register_script(tk.REGISTER_LUA)
        self._install = redis.register_script(tk.INSTALL_LUA)
        self._issue = redis.register_script(tk.ISSUE_LUA)
        self._revoke = redis.register_script(tk.REVOKE_LUA)
        self._backfill = redis.register_script(tk.BACKFILL_LUA)
        self._indexed = False
        # Bumped by every revocation here: a read that raced with one is not cached.
        self._revocations = 0

    def _actor_keys(self, actor_id: str) -> list[str]:
        k = self.keys
        return [k.actors, k.profiles, k.tokens, k.of_actor(actor_id)]

    async def register(self, actor: Actor) -> str:
        """Create an actor and return its token (shown once, never stored in clear)."""
        rules.ident("actor_id", actor.actor_id)
        if actor.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        for q in actor.qualifications:
            rules.ident("qualification", q)
        token = secrets.token_urlsafe(32)
        args = [actor.actor_id, actor.role, _encode(actor), token_digest(token)]
        if not await self._register(keys=self._actor_keys(actor.actor_id), args=args):
            raise AuthError(409, "actor_exists", f"actor {actor.actor_id!r} already exists")
        return token

    async def install(self, token: str, actor: Actor) -> None:
        """Register a known token (the operator's bootstrap token from the environment)."""
        args = [actor.actor_id, actor.role, _encode(actor), token_digest(token)]
        await self._install(keys=self._actor_keys(actor.actor_id), args=args)

    async def issue(self, actor_id: str, revoke_existing: bool = False) -> Issued | None:
        """A new token for an existing actor (None if unknown); optionally the only one."""
        await self._ensure_indexed()
        token = secrets.token_urlsafe(32)
        digest = token_digest(token)
        found = await self._issue(keys=self._actor_keys(actor_id),
                                  args=[actor_id, digest, "1" if revoke_existing else "0"])
        if found is None:
            return None
        revoked = [_text(d) for d in found[1]]
        self._forget(revoked)
        return Issued(token, token_id(digest), sorted(token_id(d) for d in revoked))

    async def token_ids(self, actor_id: str) -> list[str] | None:
        """The ids of an actor's live tokens (None if the actor is unknown)."""
        await self._ensure_indexed()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hexists(self.keys.actors, actor_id)
            pipe.smembers(self.keys.of_actor(actor_id))
            exists, digests = await pipe.execute()
        return sorted(token_id(_text(d)) for d in digests) if exists else None

    async def revoke(self, actor_id: str, which: str | None = None) -> list[str] | None:
        """Revoke one token (by id) or all of an actor's; the ids revoked, None if unknown."""
        await self._ensure_indexed()
        k = self.keys
        found = await self._revoke(keys=[k.actors, k.tokens, k.of_actor(actor_id)],
                                   args=[actor_id, which or ""])
        if found is None:
            return None
        revoked = [_text(d) for d in found]
        self._forget(revoked)
        return sorted(token_id(d) for d in revoked)

    def _forget(self, digests: list[str]) -> None:
        self._revocations += 1
        for digest in digests:
            self._cache.pop(digest, None)

    async def _ensure_indexed(self) -> None:
        """Put tokens made before the per-actor sets existed into them, once per Redis.

        Without this, "revoke all" would miss an old token and say it had revoked them all.
        Idempotent, so two API processes may both run it; the marker is set when done.
        """
        if self._indexed or await self.redis.exists(self.keys.indexed):
            self._indexed = True
            return
        cursor = 0
        while True:
            cursor, chunk = await self.redis.hscan(self.keys.tokens, cursor, count=500)
            keys, args = [self.keys.tokens, self.keys.profiles], []
            for digest, value in chunk.items():
                actor = _decode(_text(value))
                keys.append(self.keys.of_actor(actor.actor_id))
                args += [_text(digest), _text(value), actor.actor_id]
            if args:
                await self._backfill(keys=keys, args=args)
            if cursor == 0:
                break
        await self.redis.set(self.keys.indexed, "1")
        self._indexed = True

    async def authenticate(self, header: str | None) -> Actor:
        if not header or not header.startswith("Bearer "):
            raise AuthError(401, "unauthenticated", "send Authorization: Bearer <token>")
        digest = token_digest(header[7:].strip())
        # Taken before the read: an entry never outlives the Redis state it was read from
        # by more than CACHE_SECONDS, however long the round trip took.
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        revocations = self._revocations
        value = await self.redis.hget(self.keys.tokens, digest)
        if value is None:
            raise AuthError(401, "unauthenticated", "unknown token")
        actor = _decode(_text(value))
        if len(self._cache) > 100_000:
            self._cache.clear()
        if revocations == self._revocations:
            self._cache[digest] = (actor, now + self.CACHE_SECONDS)
        return actor


def require_role(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        raise AuthError(403, "forbidden", f"this call is for {' or '.join(roles)}s")
