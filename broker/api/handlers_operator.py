"""Operator endpoints (and the overturn, which the owning requester may also do).

Tokens: an operator issues more tokens to an actor, lists their ids, and revokes one or
all of them; issuing with revoke_existing rotates (the new token becomes the only one).
A revoked token is refused by every API process within TokenStore.CACHE_SECONDS.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from broker.api.auth import Actor, token_digest, token_id
from broker.api.bodies import ActorBody, PayoutBody
from broker.api.handlers_requester import task_of
from broker.api.resources import (
    ActorCreated,
    Outcome,
    TokenIssued,
    TokenList,
    TokenRef,
    TokensRevoked,
)
from broker.api.responses import ApiError, build, read_body, reply, run
from broker.api.routes import COMMAND_HEADERS, COMMON, route
from broker.api.services import Services
from broker.api.token_bodies import TokenBody
from broker.api.token_keys import TOKEN_ID_HEX
from schemas import rules
from schemas.commands import IssuePayout, OverturnRejection

OPERATOR = ("operator",)
TOKENS = {**COMMON, 403: "operators only", 404: "no such actor or token"}


@route("POST", "/v1/actors", "Create a requester, worker or operator and return its token",
       OPERATOR, ActorBody, ok={201: "created; the token is shown once"}, out=ActorCreated)
async def create_actor(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    body = await read_body(request, ActorBody)
    try:
        token = await svc.tokens.register(Actor(body.actor_id, body.role, body.qualifications))
    except ValueError as exc:
        raise ApiError(422, "invalid_actor", str(exc)) from exc
    return reply(ActorCreated(actor_id=body.actor_id, role=body.role, token=token,
                              token_id=token_id(token_digest(token))), 201)


@route("POST", "/v1/payouts", "Pay a worker out of its wallet balance", OPERATOR, PayoutBody,
       ok={201: "paid"}, out=Outcome, headers=COMMAND_HEADERS)
async def payout(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    body = await read_body(request, PayoutBody)
    command = build(IssuePayout, {"worker_id": body.worker_id, "amount": body.amount,
                                  "currency": body.currency,
                                  "payout_id": body.payout_id or uuid.uuid4().hex})
    return await run(svc.gateway, request, actor, command, status=201)


@route("POST", "/v1/submissions/{submission_id}/overturn", "Reverse a rejection (pays the work)",
       ("requester", "operator"), out=Outcome, headers=COMMAND_HEADERS)
async def overturn(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    sid = request.match_info["submission_id"]
    command = build(OverturnRejection, {"task_id": task_of(sid), "submission_id": sid})
    return await run(svc.gateway, request, actor, command)


def _actor_id(request: web.Request) -> str:
    """A path id that breaks the id rules names no actor: 404, as task ids do."""
    actor_id = request.match_info["actor_id"]
    try:
        rules.ident("actor_id", actor_id)
    except ValueError as exc:
        raise ApiError(404, "actor_not_found", str(exc)) from exc
    return actor_id


def _no_actor(actor_id: str) -> ApiError:
    return ApiError(404, "actor_not_found", f"no actor {actor_id!r}")


@route("POST", "/v1/actors/{actor_id}/tokens",
       "Issue another token to an actor; revoke_existing makes it the only one (rotation)",
       OPERATOR, TokenBody, ok={201: "the token (shown once), its id and the ids revoked"},
       errors=TOKENS, out=TokenIssued)
async def issue_token(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    actor_id = _actor_id(request)
    # The body is optional: no body issues one more token and revokes nothing.
    body = await read_body(request, TokenBody) if await request.read() else TokenBody()
    issued = await svc.tokens.issue(actor_id, body.revoke_existing)
    if issued is None:
        raise _no_actor(actor_id)
    return reply(TokenIssued(actor_id=actor_id, token=issued.token, token_id=issued.token_id,
                             revoked=list(issued.revoked)), 201)


@route("GET", "/v1/actors/{actor_id}/tokens", "The ids of an actor's live tokens", OPERATOR,
       ok={200: "token ids (never the tokens)"}, errors=TOKENS, out=TokenList)
async def list_tokens(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    actor_id = _actor_id(request)
    ids = await svc.tokens.token_ids(actor_id)
    if ids is None:
        raise _no_actor(actor_id)
    return reply(TokenList(actor_id=actor_id, tokens=[TokenRef(token_id=i) for i in ids]))


@route("DELETE", "/v1/actors/{actor_id}/tokens/{token_id}", "Revoke one of an actor's tokens",
       OPERATOR, ok={200: "the id revoked"}, errors=TOKENS, out=TokensRevoked)
async def revoke_token(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    actor_id, which = _actor_id(request), request.match_info["token_id"]
    # Exactly a token id: a shorter prefix could match, and revoke, more than one token.
    if len(which) != TOKEN_ID_HEX or any(c not in "0123456789abcdef" for c in which):
        raise ApiError(404, "token_not_found", f"a token id is {TOKEN_ID_HEX} hex digits")
    revoked = await svc.tokens.revoke(actor_id, which)
    if revoked is None:
        raise _no_actor(actor_id)
    if not revoked:
        raise ApiError(404, "token_not_found", f"actor {actor_id!r} has no token {which!r}")
    return reply(TokensRevoked(actor_id=actor_id, revoked=list(revoked)))


@route("DELETE", "/v1/actors/{actor_id}/tokens", "Revoke every token of an actor", OPERATOR,
       ok={200: "the ids revoked (none if it had none)"}, errors=TOKENS, out=TokensRevoked)
async def revoke_tokens(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    actor_id = _actor_id(request)
    revoked = await svc.tokens.revoke(actor_id)
    if revoked is None:
        raise _no_actor(actor_id)
    return reply(TokensRevoked(actor_id=actor_id, revoked=list(revoked)))
