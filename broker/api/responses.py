"""JSON errors and command outcomes. Every error is {code, message}; never a stack trace."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from broker.api import idempotency, json_input
from broker.api.auth import Actor
from broker.api.gateway import CommandGateway
from broker.domain.errors import CODES
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
    return web.json_response({"code": code, "message": message}, status=status, headers=headers)


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
    return CommandEnvelope(cmd_id, actor.actor_id, actor.role, correlation, command,
                           fingerprint=fingerprint)  # fmt: skip


def outcome(reply: Reply) -> dict[str, Any]:
    return {"command_id": reply.command_id, "events": list(reply.event_ids), **reply.result}


def refusal(reply: Reply) -> ApiError:
    status = CODES.get(reply.code, (409, ""))[0]
    if reply.code == "internal_error":
        status = 500
    return ApiError(status, reply.code, reply.message)


def replied(reply: Reply, body: Any, status: int) -> web.Response:
    """The JSON answer of an accepted command; a reply from the processor's memory (a
    retry) says so in Idempotent-Replayed, as Stripe's API does."""
    response = web.json_response(body, status=status)
    if reply.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


async def send(gateway: CommandGateway, request: web.Request, actor: Actor, command: Any) -> Reply:
    """Send the request's one command under its Idempotency-Key scope; the processor's reply."""
    cmd_id = command_id(request, actor, (command.partition_key,))
    fingerprint = await idempotency.fingerprint(request)
    return await gateway.send(envelope(request, actor, cmd_id, command, fingerprint))


async def run(
    gateway: CommandGateway, request: web.Request, actor: Actor, command: Any, status: int = 200
) -> web.Response:
    reply = await send(gateway, request, actor, command)
    if not reply.accepted:
        raise refusal(reply)
    return replied(reply, outcome(reply), status)
