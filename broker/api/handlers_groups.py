"""What a worker sees before it works: open task groups, each requester's scorecard, and
its own statement (consumers/queries/task_groups_query.py and power_query.py).

The figures are the power report's (docs/METRICS.md), computed by the same functions. The
view readers are synchronous, so they run in the loop's thread pool.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from aiohttp import web

from broker.api.auth import Actor
from broker.api.handlers_listings import paging
from broker.api.resources import GroupSort, Scorecard, Statement, TaskGroup, TaskGroupPage
from broker.api.responses import ApiError, reply
from broker.api.routes import COMMON, route
from broker.api.services import Services
from broker.api.shaping import typed
from consumers.queries import power_query, task_groups_query
from consumers.queries.listings import BadQuery
from schemas.money import CURRENCIES

WORKER = ("worker",)
ANYONE = ("requester", "worker", "operator")
DEFAULT_CURRENCY = "EUR"  # the power report's default (piecework report --currency)
CSV_COLUMNS = ("line", "requester_id", "pay", "bonuses", "paid", "work_ms", "unpaid_ms",
               "unpaid_rejected_ms", "unpaid_released_ms", "unpaid_expired_ms", "pending_ms",
               "effective_hourly_wage", "submitted", "approved", "rejected", "overturned",
               "released", "expired", "earned", "owed", "balance", "paid_out", "pending")
CurrencyQuery = ("currency", Literal["EUR", "GBP", "USD"])


async def _off_loop(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args))


def _currency(request: web.Request) -> str:
    currency = request.query.get("currency") or DEFAULT_CURRENCY
    if currency not in CURRENCIES:
        raise ApiError(422, "bad_query", f"currency must be one of {', '.join(sorted(CURRENCIES))}")
    return currency


@route("GET", "/v1/task-groups",
       "Open task groups the worker qualifies for, with counts and each requester's scorecard",
       WORKER, ok={200: "a page of groups"}, errors={**COMMON, 403: "not a worker"},
       query=(("sort", GroupSort), "limit", "cursor"), out=TaskGroupPage)
async def list_task_groups(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    cursor, limit = paging(request)
    try:
        sort = task_groups_query.parse_sort(request.query.get("sort"))
    except BadQuery as exc:
        raise ApiError(422, "bad_query", str(exc)) from exc
    items, after = await _off_loop(task_groups_query.groups_page, svc.views,
                                   actor.qualifications, sort, cursor, limit)  # fmt: skip
    return reply(TaskGroupPage(sort=sort, items=[typed(TaskGroup, i) for i in items],
                               next_cursor=after))  # fmt: skip


@route("GET", "/v1/requesters/{requester_id}/scorecard",
       "A requester's scorecard: measured wage, rejections, disputes, time to pay", ANYONE,
       ok={200: "the scorecard"},
       errors={**COMMON, 403: "never: every role may read a scorecard", 404: "no such requester"},
       query=(CurrencyQuery,), out=Scorecard)
async def requester_scorecard(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    requester = request.match_info["requester_id"]
    currency = _currency(request)
    role = await svc.redis.hget(svc.tokens.keys.actors, requester)
    if (role.decode() if isinstance(role, bytes) else role) != "requester":
        raise ApiError(404, "not_found", f"no requester {requester!r}")
    found = await _off_loop(power_query.requester_scorecard, svc.views, requester, currency)
    return reply(typed(Scorecard, found))


def _wants_csv(request: web.Request) -> bool:
    wanted = request.query.get("format")
    if wanted not in (None, "", "json", "csv"):
        raise ApiError(422, "bad_query", "format is json or csv")
    if wanted:
        return wanted == "csv"
    return "text/csv" in request.headers.get("Accept", "")


def statement_csv(found: dict[str, Any]) -> str:
    """One line per requester, then the overall line with the ledger's money."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    lines = [("requester", row) for row in found["by_requester"]]
    lines.append(("overall", {**found["overall"], **found["money"], "requester_id": ""}))
    for line, row in lines:
        causes = row["unpaid_by_cause_ms"]
        flat = {**row, "line": line, **{f"unpaid_{k}_ms": v for k, v in causes.items()}}
        writer.writerow(["" if flat.get(c) is None else flat[c] for c in CSV_COLUMNS])
    return out.getvalue()


@route("GET", "/v1/me/statement",
       "The worker's statement: pay, bonuses, work and unpaid time per requester and overall",
       WORKER, ok={200: "the statement, as JSON or (Accept: text/csv, or format=csv) CSV"},
       errors={**COMMON, 403: "not a worker"},
       query=(CurrencyQuery, ("format", Literal["json", "csv"])),
       media=("application/json", "text/csv"), out=Statement)
async def my_statement(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    as_csv = _wants_csv(request)
    currency = _currency(request)
    found = await _off_loop(power_query.worker_statement, svc.views, actor.actor_id, currency)
    if as_csv:
        return web.Response(text=statement_csv(found), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition":
                                     f'attachment; filename="statement-{currency}.csv"'})
    return reply(typed(Statement, found))
