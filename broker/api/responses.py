"""JSON answers: errors and command outcomes, each served through its model
(broker/api/resources.py). Every error is {code, message}; never a stack trace."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import orjson
from aiohttp import web

from broker.api import idempotency, json_input
from broker.api.auth import Actor
from broker.api.gateway import CommandGateway
from broker.api.resources import Error, Outcome
from broker.api.shaping import plain, typed
from broker.domain.errors import CODES
from runtime.logs import correlation_id
from schemas.envelope import CommandEnvelope, Reply
from schemas.errors import SchemaError
from schemas.fields import from_plain


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 retry_after: float | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.retry_after = retry_after


# Seconds a client should wait before trying again after a 503: the processor or a store
# is restarting or rebalancing, which takes seconds, not milliseconds.
UNAVAILABLE_RETRY_S = 1


def error_response(status: int, code: str, message: str,
                   retry_after: float | None = None) -> web.Response:  # fmt: skip
    """The JSON error; 429 and 503 say when to come back (Retry-After, whole seconds)."""
    if retry_after is None and status == 503:
        retry_after = UNAVAILABLE_RETRY_S
    headers = None if retry_after is None else {"Retry-After": str(max(1, math.ceil(retry_after)))}
    return reply(Error(code=code, message=message), status, headers)


def reply(model: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """The JSON answer of a response model: what the OpenAPI document says of it."""
    return web.Response(body=dumps(plain(model)), status=status, headers=headers,
                        content_type="application/json", charset="utf-8")  # fmt: skip


def dumps(value: Any) -> bytes:
    """JSON of a plain value: orjson, ~7x json.dumps on a 100-task page (docs/DESIGN.md,
    "Decisions by measurement"); the stdlib for what orjson refuses (an integer past 64
    bits, a non-string key), so no answer fails that json.dumps would have written."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value).encode()


async def read_body(request: web.Request, cls: type) -> Any:
    """Parse and validate a JSON body into `cls`; anything off is a 4xx with the reason:
    415 for another media type, 413 past client_max_size or a field's byte limit, 400 for
    what is not JSON or past json_input's limits, 422 for what does not fit `cls`."""
    json_input.check_media_type(request.headers.get("Content-Type"))
    return build(cls, json_input.parse(await request.read()))


def build(cls: type, data: Any) -> Any:
    try:
        return from_plain(cls, data)
    except SchemaError as exc:
        raise ApiError(422, exc.code, str(exc)) from exc


def command_id(request: web.Request, actor: Actor, target: Iterable[str] = ()) -> str:
    """Idempotency-Key makes a retried request the same command (same reply, no new events);
    `target` adds what the path does not say, e.g. the partition key of the command."""
    return idempotency.command_id(request, actor.actor_id, target)


def envelope(request: web.Request, actor: Actor, cmd_id: str, command: Any,
             fingerprint: str = "") -> CommandEnvelope:  # fmt: skip
    correlation = request.headers.get("X-Correlation-Id", cmd_id)  # bounded by check_headers
    correlation_id.set(correlation)  # the rest of this request's log lines carry it
    return CommandEnvelope(cmd_id, actor.actor_id, actor.role, correlation, command,
                           fingerprint=fingerprint)  # fmt: skip


def outcome(decided: Reply) -> dict[str, Any]:
    """An accepted command's outcome as plain values, for a model of resources.py."""
    return {"command_id": decided.command_id, "events": list(decided.event_ids),
            **decided.result}  # fmt: skip


def refusal(decided: Reply) -> ApiError:
    status = CODES.get(decided.code, (409, ""))[0]
    if decided.code == "internal_error":
        status = 500
    return ApiError(status, decided.code, decided.message)


def replied(decided: Reply, model: Any, status: int) -> web.Response:
    """The answer of an accepted command; one from the processor's memory (a retry) says
    so in Idempotent-Replayed, as Stripe's API does."""
    return reply(model, status, {"Idempotent-Replayed": "true"} if decided.replayed else None)


async def send(gateway: CommandGateway, request: web.Request, actor: Actor, command: Any) -> Reply:
    """Send the request's one command under its Idempotency-Key scope; the processor's reply."""
    cmd_id = command_id(request, actor, (command.partition_key,))
    fingerprint = await idempotency.fingerprint(request)
    return await gateway.send(envelope(request, actor, cmd_id, command, fingerprint))


async def run(gateway: CommandGateway, request: web.Request, actor: Actor, command: Any,
              status: int = 200, out: type = Outcome,
              known: dict[str, Any] | None = None) -> web.Response:  # fmt: skip
    """Send the command; its outcome as the model `out` (with `known` for what an older
    reply may not say), or the refusal as an error."""
    decided = await send(gateway, request, actor, command)
    if not decided.accepted:
        raise refusal(decided)
    return replied(decided, typed(out, {**(known or {}), **outcome(decided)}), status)
