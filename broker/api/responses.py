"""JSON errors and command outcomes. Every error is {code, message}; never a stack trace."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from broker.api.auth import Actor
from broker.api.gateway import CommandGateway
from broker.domain.errors import CODES
from schemas.envelope import CommandEnvelope, Reply
from schemas.errors import SchemaError
from schemas.fields import from_plain


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


async def read_body(request: web.Request, cls: type) -> Any:
    """Parse and validate a JSON body into `cls`; anything off is a 4xx with the reason."""
    try:
        data = json.loads(await request.read() or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"body is not JSON: {exc}") from exc
    return build(cls, data)


def build(cls: type, data: Any) -> Any:
    try:
        return from_plain(cls, data)
    except SchemaError as exc:
        raise ApiError(422, exc.code, str(exc)) from exc


def command_id(request: web.Request, actor: Actor) -> str:
    """Idempotency-Key makes a retried request the same command (same reply, no new events)."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return uuid.uuid4().hex
    if not 1 <= len(key) <= 100:
        raise ApiError(422, "bad_idempotency_key", "Idempotency-Key must be 1-100 characters")
    return f"{actor.actor_id}:{key}"


def envelope(request: web.Request, actor: Actor, cmd_id: str, command: Any) -> CommandEnvelope:
    correlation = request.headers.get("X-Correlation-Id", cmd_id)[:100]
    return CommandEnvelope(cmd_id, actor.actor_id, actor.role, correlation, command)


def outcome(reply: Reply) -> dict[str, Any]:
    return {"command_id": reply.command_id, "events": list(reply.event_ids), **reply.result}


def refusal(reply: Reply) -> ApiError:
    status = CODES.get(reply.code, (409, ""))[0]
    if reply.code == "internal_error":
        status = 500
    return ApiError(status, reply.code, reply.message)


async def run(
    gateway: CommandGateway, request: web.Request, actor: Actor, command: Any, status: int = 200
) -> web.Response:
    reply = await gateway.send(envelope(request, actor, command_id(request, actor), command))
    if not reply.accepted:
        raise refusal(reply)
    return web.json_response(outcome(reply), status=status)
