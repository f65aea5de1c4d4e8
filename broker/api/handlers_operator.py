"""Operator endpoints (and the overturn, which the owning requester may also do)."""

from __future__ import annotations

import uuid

from aiohttp import web

from broker.api.auth import Actor
from broker.api.bodies import ActorBody, PayoutBody
from broker.api.handlers_requester import task_of
from broker.api.responses import ApiError, build, read_body, run
from broker.api.routes import route
from broker.api.services import Services
from schemas.commands import IssuePayout, OverturnRejection

OPERATOR = ("operator",)


@route("POST", "/v1/actors", "Create a requester, worker or operator and return its token",
       OPERATOR, ActorBody, ok={201: "created; the token is shown once"})
async def create_actor(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    body = await read_body(request, ActorBody)
    try:
        token = await svc.tokens.register(Actor(body.actor_id, body.role, body.qualifications))
    except ValueError as exc:
        raise ApiError(422, "invalid_actor", str(exc)) from exc
    return web.json_response(
        {"actor_id": body.actor_id, "role": body.role, "token": token}, status=201
    )


@route("POST", "/v1/payouts", "Pay a worker out of its wallet balance", OPERATOR, PayoutBody,
       ok={201: "paid"})
async def payout(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    body = await read_body(request, PayoutBody)
    command = build(IssuePayout, {"worker_id": body.worker_id, "amount": body.amount,
                                  "currency": body.currency,
                                  "payout_id": body.payout_id or uuid.uuid4().hex})
    return await run(svc.gateway, request, actor, command, status=201)


@route("POST", "/v1/submissions/{submission_id}/overturn", "Reverse a rejection (pays the work)",
       ("requester", "operator"))
async def overturn(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    sid = request.match_info["submission_id"]
    command = build(OverturnRejection, {"task_id": task_of(sid), "submission_id": sid})
    return await run(svc.gateway, request, actor, command)
