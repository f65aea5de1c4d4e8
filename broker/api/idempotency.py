"""Idempotency-Key: which request a key names, and how a retry is told from a reuse.

A key is scoped to (actor, method, route, target, partition): the command id is a digest
of all of them, so one key used on two tasks, two submissions or two workers names two
commands, and no two commands on two partitions can ever share an id (their events and
the worker credits derived from them would share ids too). The processor remembers each
command's reply with the request's fingerprint: the same key again with the same request
gets that reply again; with another request it gets 422 idempotency_key_reused.

The window is the processor's memory of replies: every reply since the start of the
replies topic, whose retention is the broker's default (7 days).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable

from aiohttp import web

HEADER = "Idempotency-Key"
WINDOW_SECONDS = 7 * 24 * 3600  # the replies topic's retention (broker default)
# claim-next tries groups of tasks one after another: with a key, the groups tried are kept
# in order in Redis (a list per command id), so a retry asks for the same ones again.
CLAIM_MEMORY_PREFIX = "pw:idem:claim-next:"
# Append a group to the memory and (re)set its TTL atomically, in one round trip.
REMEMBER_LUA = "redis.call('RPUSH', KEYS[1], ARGV[1]) return redis.call('EXPIRE', KEYS[1], ARGV[2])"


def key_of(request: web.Request) -> str | None:
    """The caller's key; app.check_headers has already held it to 1-100 printable ASCII."""
    return request.headers.get(HEADER)


def _digest(parts: Iterable[str | bytes]) -> str:
    # Length-prefixed, so no choice of parts can spell another tuple of parts.
    h = hashlib.sha256()
    for part in parts:
        raw = part.encode() if isinstance(part, str) else part
        h.update(len(raw).to_bytes(8, "big"))
        h.update(raw)
    return h.hexdigest()[:32]


def command_id(request: web.Request, actor_id: str, target: Iterable[str] = ()) -> str:
    """The command id of this request: random without a key, else the key's scope."""
    key = key_of(request)
    if key is None:
        return uuid.uuid4().hex
    route = request.match_info.route.resource
    template = route.canonical if route is not None else request.path
    return scoped_command_id(actor_id, request.method, template, dict(request.match_info),
                             tuple(target), key)  # fmt: skip


def scoped_command_id(actor_id: str, method: str, template: str, path_args: dict[str, str],
                      target: tuple[str, ...], key: str) -> str:  # fmt: skip
    args = (f"{k}={v}" for k, v in sorted(path_args.items()))
    return f"{actor_id}:{_digest((actor_id, method, template, *args, *target, key))}"


async def fingerprint(request: web.Request) -> str:
    """What the request asked for: method, path, query and body bytes (aiohttp keeps the
    body read, so reading it again costs nothing). Empty without a key: a random command
    id is never seen twice, so there is nothing to compare."""
    if HEADER not in request.headers:
        return ""
    return body_fingerprint(request.method, request.path_qs, await request.read())


def body_fingerprint(method: str, path_qs: str, body: bytes) -> str:
    return _digest((method, path_qs, body))


def claim_memory_key(base_command_id: str) -> str:
    return f"{CLAIM_MEMORY_PREFIX}{base_command_id}"
