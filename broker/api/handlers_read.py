"""Read endpoints over the materialized views in Redis (eventually consistent with the log).

The view readers are synchronous (shared with replay and the audit), so they run in the
loop's default thread pool: a few Redis round trips each, the loop never blocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

from aiohttp import web

from broker.api.auth import Actor
from broker.api.handlers_listings import paging
from broker.api.handlers_requester import task_of
from broker.api.resources import (
    Claim,
    Ledger,
    PlatformLedger,
    PlatformTotals,
    RequesterAccount,
    Submission,
    Task,
    TaskSubmissions,
    WorkerAccount,
)
from broker.api.responses import ApiError, reply
from broker.api.routes import COMMON, route
from broker.api.services import Services
from broker.api.shaping import typed
from consumers.queries import listings
from consumers.stores.store import Reader
from consumers.views import ledger, task_record, tasks_view
from schemas.ids import requester_of_task
from schemas.money import CURRENCIES

ANYONE = ("requester", "worker", "operator")
READ = {**COMMON, 403: "not yours", 404: "not found"}


async def _off_loop(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args))


async def _hash(svc: Services, key: str, what: str) -> dict[str, str]:
    found = await _off_loop(svc.views.hgetall, key)
    if not found:
        raise ApiError(404, "not_found", f"no {what} (views may lag the log by a moment)")
    return found


def _may_see(actor: Actor, task_id: str, worker_id: str | None = None) -> None:
    """Operators see all; a requester its own tasks; a worker its own claims and submissions."""
    if actor.role == "operator":
        return
    if actor.role == "requester" and requester_of_task(task_id) == actor.actor_id:
        return
    if actor.role == "worker" and worker_id == actor.actor_id:
        return
    raise ApiError(403, "forbidden", "not yours")


@route("GET", "/v1/tasks/{task_id}", "A task's terms, payload and counters", ANYONE,
       ok={200: "the task"}, errors=READ, out=Task)
async def get_task(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    task_id = request.match_info["task_id"]
    found = await _off_loop(task_record.read_task, svc.views, task_id)
    if not found:
        raise ApiError(404, "not_found", "no task (views may lag the log by a moment)")
    if actor.role == "requester":
        _may_see(actor, task_id)  # workers may read any task: they must see it to do it
    return reply(typed(Task, listings.task_row(task_id, found)))


@route("GET", "/v1/tasks/{task_id}/submissions",
       "A task's submissions with their answers, in claim order (cursor-paged)",
       ("requester", "operator"), ok={200: "a page of submissions"}, errors=READ,
       query=("limit", "cursor"), out=TaskSubmissions)
async def list_submissions(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    task_id = request.match_info["task_id"]
    _may_see(actor, task_id)
    cursor, limit = paging(request)
    items, after = await _off_loop(listings.task_submissions_page, svc.views, task_id, cursor,
                                   limit)  # fmt: skip
    return reply(TaskSubmissions(task_id=task_id, items=[typed(Submission, i) for i in items],
                                 next_cursor=after))


@route("GET", "/v1/claims/{claim_id}", "A claim's status", ANYONE, ok={200: "the claim"},
       errors=READ, out=Claim)
async def get_claim(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    claim_id = request.match_info["claim_id"]
    task_id = task_of(claim_id)
    found = await _hash(svc, tasks_view.claim_key(task_id, claim_id), "claim")
    _may_see(actor, task_id, found.get("worker"))
    return reply(typed(Claim, {**found, "claim_id": claim_id, "task_id": task_id}))


@route("GET", "/v1/submissions/{submission_id}", "A submission's status and answer", ANYONE,
       ok={200: "the submission"}, errors=READ, out=Submission)
async def get_submission(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    sid = request.match_info["submission_id"]
    task_id = task_of(sid)
    found = await _hash(svc, tasks_view.submission_key(task_id, sid), "submission")
    _may_see(actor, task_id, found.get("worker"))
    return reply(typed(Submission, listings.submission_row(sid, found)))


def _accounts(reader: Reader, role: str, actor_id: str) -> dict[str, Any]:
    key, model = ((ledger.worker_key, WorkerAccount) if role == "worker"
                  else (ledger.requester_key, RequesterAccount))  # fmt: skip
    currencies = sorted(CURRENCIES)
    found = reader.hgetall_many([key(actor_id, c) for c in currencies])
    return {c: typed(model, h) for c, h in zip(currencies, found, strict=True) if h}


@route("GET", "/v1/ledger", "The caller's own balances, per currency", ("requester", "worker"),
       ok={200: "balances in micro-units"}, errors=READ, out=Ledger)
async def my_ledger(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    accounts = await _off_loop(_accounts, svc.views, actor.role, actor.actor_id)
    return reply(Ledger(actor_id=actor.actor_id, role=actor.role, accounts=accounts))


@route("GET", "/v1/ledger/{role}/{actor_id}", "Any account's balances (operators)", ("operator",),
       ok={200: "balances in micro-units"}, errors=READ, out=Ledger)
async def account_ledger(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    role = request.match_info["role"]
    if role not in ("worker", "requester"):
        raise ApiError(404, "not_found", "role must be worker or requester")
    actor_id = request.match_info["actor_id"]
    accounts = await _off_loop(_accounts, svc.views, role, actor_id)
    return reply(Ledger(actor_id=actor_id, role=role, accounts=accounts))


@route("GET", "/v1/platform/ledger", "Platform totals and the money-conservation check",
       ("operator",), ok={200: "totals per currency"}, errors=READ, out=PlatformLedger)
async def platform_ledger(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    totals = await _off_loop(ledger.ledger_totals, svc.views)
    return reply(PlatformLedger(
        totals={c: typed(PlatformTotals, t) for c, t in totals.items()},
        violations=ledger.violations(totals)))
