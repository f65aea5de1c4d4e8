"""Bulk review: up to 1,000 approvals and rejections in one request, one command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from aiohttp import web

from broker.api.auth import Actor
from broker.api.hints import Schema
from broker.api.resources import Reviewed
from broker.api.responses import (
    ApiError,
    build,
    outcome,
    read_body,
    refusal,
    replied,
    reply,
    send,
)
from broker.api.routes import COMMAND, COMMAND_HEADERS, route
from broker.api.services import Services
from broker.api.shaping import typed
from schemas.commands import MAX_REVIEW_ITEMS, ReviewItem, ReviewSubmissions
from schemas.errors import SchemaError
from schemas.ids import requester_of_task, task_of_claim

REQUESTER = ("requester",)


@dataclass(frozen=True, slots=True)
class ReviewsBody:
    # more than MAX_REVIEW_ITEMS is answered 413, as other size limits are
    items: Annotated[tuple[ReviewItem, ...], Schema(minItems=1, maxItems=MAX_REVIEW_ITEMS)]

    def __post_init__(self) -> None:
        if not self.items:
            raise ValueError("items must hold at least one review")


def _not_the_requesters(item: ReviewItem, requester_id: str) -> dict[str, Any] | None:
    """The per-item refusal of a submission the command may not name: an id that names
    no submission (not_found), or one of another requester's tasks (forbidden, as a
    single approval of it is answered)."""
    sid = item.submission_id
    try:
        owner = requester_of_task(task_of_claim(sid))
    except SchemaError as exc:
        return {"submission_id": sid, "ok": False, "code": "not_found", "message": str(exc)}
    if owner != requester_id:
        return {"submission_id": sid, "ok": False, "code": "forbidden",
                "message": f"requester {requester_id!r} does not own this task"}  # fmt: skip
    return None


@route("POST", "/v1/reviews", "Approve or reject up to 1,000 submissions, answered per item",
       REQUESTER, ReviewsBody,
       ok={200: "decided: one result per item, in order, and the counts"},
       errors={**COMMAND, 413: "more than 1,000 items, or too large for the log",
               422: "invalid body: a bad item, or a submission named twice"},
       out=Reviewed, headers=COMMAND_HEADERS)  # fmt: skip
async def review(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    body = await read_body(request, ReviewsBody)
    if len(body.items) > MAX_REVIEW_ITEMS:
        raise ApiError(413, "too_many_items", f"at most {MAX_REVIEW_ITEMS} items per request")
    ids = [item.submission_id for item in body.items]
    if len(set(ids)) != len(ids):
        raise ApiError(422, "invalid_record", "a submission is named twice")
    # Items the command may not carry are answered here; all the others, on the requester's
    # partition, go in one command (a function of the body: a retry sends the same one).
    early = {i: r for i, item in enumerate(body.items)
             if (r := _not_the_requesters(item, actor.actor_id)) is not None}  # fmt: skip
    kept = tuple(item for i, item in enumerate(body.items) if i not in early)
    answer: dict[str, Any] = {"command_id": None, "events": [], "results": [],
                              "approved": 0, "rejected": 0, "refused": 0}  # fmt: skip
    decided = None
    if kept:
        command = build(ReviewSubmissions, {"requester_id": actor.actor_id, "items": kept})
        decided = await send(svc.gateway, request, actor, command)
        if not decided.accepted:
            raise refusal(decided)
        answer.update(outcome(decided))
    outcomes = iter(answer["results"])
    answer["results"] = [early[i] if i in early else next(outcomes) for i in range(len(ids))]
    answer["refused"] += len(early)
    if decided is None:
        return reply(typed(Reviewed, answer))
    return replied(decided, typed(Reviewed, answer), 200)
