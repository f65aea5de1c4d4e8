"""Submit many, release many: up to 50 items in one request, answered per item.

All of a requester's tasks live on its partition, so each request sends one command per
requester it names (SubmitSuite, ReleaseSuite), decided in one step there; the items are
answered one by one, in request order. Claiming a suite is broker/api/claim_suite.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from aiohttp import web

from broker.api import idempotency, json_input
from broker.api.auth import Actor
from broker.api.claim_suite import replayed_headers
from broker.api.hints import Schema
from broker.api.json_input import check_encoded_size
from broker.api.resources import ReleasedMany, SubmittedMany
from broker.api.responses import ApiError, build, command_id, envelope, refusal, reply
from broker.api.routes import COMMAND, COMMAND_HEADERS, route
from broker.api.services import Services
from broker.api.shaping import typed
from schemas import ids, rules
from schemas.codec import encode_command
from schemas.commands import MAXIMUM_SUITE, ReleaseSuite, SubmitSuite, SuiteAnswer
from schemas.envelope import CommandEnvelope
from schemas.errors import SchemaError
from schemas.limits import MAX_ANSWER_BYTES, MAX_RECORD_BYTES

WORKER = ("worker",)
ClaimId = Annotated[str, Schema(minLength=1, maxLength=200)]


@dataclass(frozen=True, slots=True)
class SubmitItemBody:
    claim_id: ClaimId
    answer: Annotated[object, Schema(description=f"any JSON value but null, at most"
                                                 f" {MAX_ANSWER_BYTES} bytes msgpack-encoded"
                                                 " (413 past it)")]  # fmt: skip

    def __post_init__(self) -> None:
        rules.text("claim_id", self.claim_id, limit=200)
        if self.answer is None:
            raise ValueError("answer must not be null")
        check_encoded_size("answer", self.answer, MAX_ANSWER_BYTES, "answer_too_large")


@dataclass(frozen=True, slots=True)
class SubmitManyBody:
    # more than MAXIMUM_SUITE is answered 413, as other size limits are
    items: Annotated[tuple[SubmitItemBody, ...], Schema(minItems=1, maxItems=MAXIMUM_SUITE)]

    def __post_init__(self) -> None:
        if not self.items:
            raise ValueError("items must hold at least one submission")


@dataclass(frozen=True, slots=True)
class ReleaseManyBody:
    claim_ids: Annotated[tuple[ClaimId, ...], Schema(minItems=1, maxItems=MAXIMUM_SUITE)]

    def __post_init__(self) -> None:
        if not self.claim_ids:
            raise ValueError("claim_ids must hold at least one claim")
        for claim_id in self.claim_ids:
            rules.text("claim_ids[]", claim_id, limit=200)


async def _read_items(request: web.Request, cls: type, field: str) -> Any:
    """The body as `cls`, refusing past MAXIMUM_SUITE entries (413) before building any."""
    json_input.check_media_type(request.headers.get("Content-Type"))
    data = json_input.parse(await request.read())
    if isinstance(data, dict) and isinstance(data.get(field), list) \
            and len(data[field]) > MAXIMUM_SUITE:  # fmt: skip
        raise ApiError(413, "too_many_items", f"at most {MAXIMUM_SUITE} {field} per request")
    return build(cls, data)


def _requester_of(claim_id: str) -> str | None:
    try:
        return ids.requester_of_task(ids.task_of_claim(claim_id))
    except SchemaError:
        return None


async def _per_requester(request: web.Request, actor: Actor, svc: Services,
                         claim_ids: list[str], make: Callable[[str, list[int]], Any],
                         counted: str) -> dict[str, Any]:  # fmt: skip
    """Send make(requester, item indexes) for each requester named, all sizes checked
    before any is sent; the answer with one result per item, in request order."""
    if len(set(claim_ids)) != len(claim_ids):
        raise ApiError(422, "invalid_record", "a claim is named twice")
    results: list[dict[str, Any] | None] = [None] * len(claim_ids)
    by_requester: dict[str, list[int]] = {}
    for i, claim_id in enumerate(claim_ids):
        owner = _requester_of(claim_id)
        if owner is None:
            results[i] = {"claim_id": claim_id, "ok": False, "code": "not_found",
                          "message": f"no claim is named {claim_id!r} (<task_id>:c<n>)"}
        else:
            by_requester.setdefault(owner, []).append(i)
    fingerprint = await idempotency.fingerprint(request)
    envelopes: list[CommandEnvelope] = []
    for owner, indexes in by_requester.items():
        command = make(owner, indexes)
        cmd_id = command_id(request, actor, (command.partition_key,))
        env = envelope(request, actor, cmd_id, command, fingerprint)
        size = len(encode_command(env))
        if size > MAX_RECORD_BYTES:  # refused whole, before any part is sent
            raise ApiError(413, "too_large", f"the items of requester {owner!r} make a command"
                           f" of {size} bytes; the log takes at most {MAX_RECORD_BYTES}:"
                           " send fewer items per request")  # fmt: skip
        envelopes.append(env)
    replies = await asyncio.gather(*(svc.gateway.send(e) for e in envelopes))
    for decided, indexes in zip(replies, by_requester.values(), strict=True):
        if not decided.accepted:
            raise refusal(decided)
        for i, outcome in zip(indexes, decided.result["results"], strict=True):
            results[i] = outcome
    done = sum(1 for r in results if r and r["ok"])
    return {"command_ids": [r.command_id for r in replies],
            "events": [e for r in replies for e in r.event_ids], "results": results,
            counted: done, "refused": len(results) - done, "_replies": list(replies)}


@route("POST", "/v1/submissions", "Submit the work of up to 50 claims, answered per item",
       WORKER, SubmitManyBody, ok={200: "decided: one result per item, in order, and the counts"},
       errors={**COMMAND, 413: "more than 50 items, an answer over its limit, or too large for"
               " the log", 422: "invalid body: a bad item, or a claim named twice"},
       out=SubmittedMany, headers=COMMAND_HEADERS)  # fmt: skip
async def submit_many(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    body: SubmitManyBody = await _read_items(request, SubmitManyBody, "items")
    items = body.items

    def make(owner: str, indexes: list[int]) -> SubmitSuite:
        answers = tuple(SuiteAnswer(items[i].claim_id, items[i].answer) for i in indexes)
        return build(SubmitSuite, {"requester_id": owner, "worker_id": actor.actor_id,
                                   "items": answers})  # fmt: skip

    answer = await _per_requester(request, actor, svc, [i.claim_id for i in items], make,
                                  "submitted")  # fmt: skip
    return reply(typed(SubmittedMany, answer), 200, replayed_headers(answer["_replies"]))


@route("POST", "/v1/claims/release", "Give back up to 50 claims, answered per claim", WORKER,
       ReleaseManyBody, ok={200: "decided: one result per claim, in order, and the counts"},
       errors={**COMMAND, 413: "more than 50 claims",
               422: "invalid body: a bad claim id, or one named twice"},
       out=ReleasedMany, headers=COMMAND_HEADERS)  # fmt: skip
async def release_many(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    body: ReleaseManyBody = await _read_items(request, ReleaseManyBody, "claim_ids")
    claim_ids = list(body.claim_ids)

    def make(owner: str, indexes: list[int]) -> ReleaseSuite:
        return build(ReleaseSuite, {"requester_id": owner, "worker_id": actor.actor_id,
                                    "claim_ids": tuple(claim_ids[i] for i in indexes)})

    answer = await _per_requester(request, actor, svc, claim_ids, make, "released")
    return reply(typed(ReleasedMany, answer), 200, replayed_headers(answer["_replies"]))
