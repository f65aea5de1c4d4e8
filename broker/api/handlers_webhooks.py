"""Webhook subscriptions: where piecework POSTs an actor's events (consumers/webhooks).

Requesters and workers own their webhooks and receive their own feed's events; operators
read anyone's (`?actor_id=`). Another actor's webhook id is a 404: its existence is not
told. A subscription is configuration, written straight to Redis (`pw:webhooks:`), not a
command on the log: its secret must not reach the log the auditors receive. It starts at
the owner's newest feed event, so it gets what happens from its creation on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from functools import cache, partial
from typing import Any, Literal

from aiohttp import web
from redis.asyncio import Redis

from broker.api import idempotency
from broker.api.auth import Actor
from broker.api.responses import ApiError, read_body
from broker.api.routes import COMMON, route
from broker.api.services import Services
from consumers.queries.feed import latest_cursor
from consumers.views.feed import LEFT_OUT
from consumers.webhooks import schedule
from consumers.webhooks.schedule import Progress
from consumers.webhooks.store import WebhookStore
from consumers.webhooks.subscription import Webhook, new_id, new_secret
from consumers.webhooks.targets import TargetRefused, check_target, parse_url
from schemas import events as _events  # noqa: F401 - registers every event type
from schemas import rules
from schemas.catalogue import EVENTS

OWNERS = ("requester", "worker")
READERS = ("requester", "worker", "operator")
MAX_DESCRIPTION = 200
MAX_PAGE = 1_000
# Types the feed carries: a subscription to another (TaskPosted) would never fire.
DELIVERABLE = frozenset(EVENTS.by_name) - {cls.__name__ for cls in LEFT_OUT}
READ = {**COMMON, 403: "operators may not, or another actor_id", 404: "no such webhook"}
WRITE = {**COMMON, 403: "operators may not", 404: "no such webhook"}
CREATE = {**COMMON, 403: "operators may not",
          409: "the caller already holds the most webhooks allowed",
          422: "invalid body: a URL that is not http(s), too long or not allowed (a private"
               " address), an unknown event type, a description too long"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class WebhookBody:
    url: str
    event_types: tuple[str, ...] = ()  # empty: every type
    description: str | None = None

    def __post_init__(self) -> None:
        parse_url(self.url)  # TargetRefused is a ValueError: a 422 naming the field
        unknown = sorted(set(self.event_types) - DELIVERABLE)
        if unknown:
            raise ValueError(f"event_types: unknown or not delivered {unknown[:3]} (known:"
                             f" {', '.join(sorted(DELIVERABLE))})")  # fmt: skip
        if len(set(self.event_types)) != len(self.event_types):
            raise ValueError("event_types: a type appears twice")
        if self.description is not None:
            rules.text("description", self.description, limit=MAX_DESCRIPTION, required=False)


@dataclass(frozen=True, slots=True)
class WebhookOut:
    webhook_id: str
    url: str
    event_types: tuple[str, ...]
    description: str | None
    status: Literal["enabled", "disabled"]
    created_at: int  # epoch ms
    failures: int  # consecutive failed deliveries
    last_error: str | None


@dataclass(frozen=True, slots=True)
class WebhookCreated(WebhookOut):
    secret: str  # whsec_...: shown here only


@dataclass(frozen=True, slots=True)
class WebhookList:
    items: tuple[WebhookOut, ...]


@dataclass(frozen=True, slots=True)
class DeliveryOut:
    delivery_id: str
    event_id: str  # the webhook-id header: the de-duplication key
    event_type: str
    attempt: int  # 1 for the first try of this event
    status: Literal["delivered", "failed"]
    http_status: int | None
    error: str | None
    at: int  # epoch ms the attempt ended
    latency_ms: int  # the HTTP attempt's duration


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    items: tuple[DeliveryOut, ...]
    next_cursor: str | None


@cache
def _store(redis: Redis) -> WebhookStore:
    return WebhookStore(redis)


def _out(hook: Webhook) -> WebhookOut:
    return WebhookOut(**hook.public())


def _json(model: Any, status: int = 200) -> web.Response:
    return web.json_response(dataclasses.asdict(model), status=status)


def _named_actor(request: web.Request, actor: Actor, required: bool) -> str | None:
    """Whose webhooks: the caller's own, or for operators the `actor_id` they name."""
    named = request.query.get("actor_id") or None
    if actor.role == "operator":
        if required and named is None:
            raise ApiError(422, "actor_id_required", "operators name the actor_id")
        return named
    if named is not None and named != actor.actor_id:
        raise ApiError(403, "forbidden", "an actor reads only its own webhooks")
    return actor.actor_id


async def _owned(request: web.Request, actor: Actor, svc: Services) -> Webhook:
    webhook_id = request.match_info["webhook_id"]
    owner = _named_actor(request, actor, required=False)
    hook = await _store(svc.redis).get(webhook_id)
    if hook is None or (owner is not None and hook.owner != owner):
        raise ApiError(404, "not_found", f"no webhook {webhook_id!r}")
    return hook


@route("POST", "/v1/webhooks", "Subscribe a URL to the caller's events (signed deliveries)",
       OWNERS, WebhookBody, ok={201: "created; the secret is shown this once"}, errors=CREATE,
       out=WebhookCreated)
async def create_webhook(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    body = await read_body(request, WebhookBody)
    settings = svc.settings
    try:
        await check_target(body.url, settings.webhook_allow_private)
    except TargetRefused as exc:
        raise ApiError(422, "target_not_allowed", str(exc)) from exc
    cursor = await asyncio.get_running_loop().run_in_executor(
        None, partial(latest_cursor, svc.views, actor.actor_id, settings.partitions))
    hook = Webhook(new_id(), actor.actor_id, body.url, body.event_types, body.description,
                   new_secret(), time.time_ns() // 1_000_000, Progress(cursor))  # fmt: skip
    key = idempotency.key_of(request)
    remembered = (key, await idempotency.fingerprint(request)) if key else None
    store = _store(svc.redis)
    created = await store.create(hook, settings.webhook_max_per_actor, remembered)
    if created.outcome == "full":
        raise ApiError(409, "too_many_webhooks", f"an actor may hold at most"
                       f" {settings.webhook_max_per_actor} webhooks; delete one first")  # fmt: skip
    if created.outcome == "reused":
        raise ApiError(422, "idempotency_key_reused",
                       "this Idempotency-Key was used for another request")
    if created.outcome == "replayed":
        found = await store.get(created.webhook_id)
        if found is None:
            raise ApiError(404, "not_found", "the webhook this key created was deleted")
        hook = found
    response = _json(WebhookCreated(**hook.public(), secret=hook.secret), status=201)
    if created.outcome == "replayed":
        response.headers["Idempotent-Replayed"] = "true"
    return response


@route("GET", "/v1/webhooks", "The caller's webhooks, oldest first (no secrets)", READERS,
       ok={200: "the webhooks"}, errors=READ, query=("actor_id",), out=WebhookList)
async def list_webhooks(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    owner = _named_actor(request, actor, required=True)
    assert owner is not None
    hooks = await _store(svc.redis).of(owner)
    return _json(WebhookList(tuple(_out(h) for h in hooks)))


@route("GET", "/v1/webhooks/{webhook_id}", "One webhook: target, types, status, failures",
       READERS, ok={200: "the webhook"}, errors=READ, query=("actor_id",), out=WebhookOut)
async def get_webhook(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    return _json(_out(await _owned(request, actor, svc)))


@route("DELETE", "/v1/webhooks/{webhook_id}", "Stop and forget a webhook", OWNERS,
       ok={204: "deleted"}, errors=WRITE)
async def delete_webhook(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    hook = await _owned(request, actor, svc)
    if not await _store(svc.redis).delete(hook.webhook_id, hook.owner):
        raise ApiError(404, "not_found", f"no webhook {hook.webhook_id!r}")
    return web.Response(status=204)


@route("POST", "/v1/webhooks/{webhook_id}/enable",
       "Enable a webhook again: it resumes at the first event not delivered", OWNERS,
       ok={200: "the webhook, enabled"}, errors=WRITE, out=WebhookOut)
async def enable_webhook(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    store = _store(svc.redis)
    for _ in range(5):  # the sender may write between our read and our write
        hook = await _owned(request, actor, svc)
        progress = schedule.enabled(hook.progress)
        if await store.save(hook, progress):
            return _json(_out(dataclasses.replace(hook, progress=progress)))
    raise ApiError(503, "busy", "the webhook kept changing; try again")


def _paging(request: web.Request) -> tuple[int | None, int]:
    cursor, limit = request.query.get("cursor") or None, request.query.get("limit") or "100"
    if cursor is not None and not (cursor.isdigit() and cursor.isascii() and len(cursor) < 19):
        raise ApiError(422, "bad_query", "cursor is not one this API gave")
    if not (limit.isdigit() and limit.isascii() and 1 <= int(limit) <= MAX_PAGE):
        raise ApiError(422, "bad_query", f"limit must be an integer in [1, {MAX_PAGE}]")
    return (int(cursor) if cursor else None), int(limit)


@route("GET", "/v1/webhooks/{webhook_id}/deliveries",
       "A webhook's last delivery attempts, newest first (cursor-paged)", READERS,
       ok={200: "a page of attempts"}, errors=READ, query=("limit", "cursor", "actor_id"),
       out=DeliveryPage)
async def list_deliveries(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    before, limit = _paging(request)
    hook = await _owned(request, actor, svc)
    items, last = await _store(svc.redis).deliveries(hook.webhook_id, before, limit)
    page = DeliveryPage(tuple(DeliveryOut(**item) for item in items),
                        None if last is None else str(last))  # fmt: skip
    return _json(page)
