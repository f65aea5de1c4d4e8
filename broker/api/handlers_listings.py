"""Listings over the batches view: a requester's batches, a batch's progress and tasks, the
review queue, and a batch's results as JSON lines or CSV (consumers/queries/listings.py).

A requester reads its own; an operator names the requester with `?requester_id=`;
workers are refused (403). Another requester's batch id is a 404: its existence is not
told. Lists are cursor-paged (`limit` 1..1000, default 100; `next_cursor` null on the
last page). The view readers are synchronous, so they run in the loop's thread pool.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
from collections.abc import Callable, Iterator
from functools import partial
from itertools import islice
from typing import Annotated, Any

from aiohttp import web
from redis.exceptions import RedisError

from broker.api.auth import Actor
from broker.api.hints import Schema
from broker.api.resources import (
    Batch,
    BatchPage,
    BatchProgress,
    ListedSubmissionStatus,
    ListedTaskStatus,
    Submission,
    SubmissionPage,
    Task,
    TaskPage,
)
from broker.api.responses import ApiError, reply
from broker.api.routes import COMMON, route
from broker.api.services import Services
from broker.api.shaping import typed
from consumers.queries import listings
from consumers.queries.listings import BadQuery

OWNERS = ("requester", "operator")
READ = {**COMMON, 403: "workers, or another requester_id", 404: "no such batch"}
LIST = {**COMMON, 403: "workers, or another requester_id"}
RESULT_ROWS_PER_WRITE = 500
log = logging.getLogger(__name__)


async def _off_loop(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args))


def _requester(request: web.Request, actor: Actor) -> str:
    named = request.query.get("requester_id")
    if actor.role == "operator":
        if not named:
            raise ApiError(422, "requester_id_required", "operators name the requester_id")
        return named
    if named and named != actor.actor_id:
        raise ApiError(403, "forbidden", "a requester reads only its own batches")
    return actor.actor_id


def paging(request: web.Request) -> tuple[listings.Cursor | None, int]:
    """The cursor and limit of a paged listing; 422 bad_query for ones this API never gave."""
    try:
        return (listings.decode_cursor(request.query.get("cursor")),
                listings.parse_limit(request.query.get("limit")))
    except BadQuery as exc:
        raise ApiError(422, "bad_query", str(exc)) from exc


async def _progress(request: web.Request, actor: Actor, svc: Services) -> tuple[str, str, dict]:
    requester = _requester(request, actor)
    batch = request.match_info["batch_id"]
    found = await _off_loop(listings.batch_progress, svc.views, requester, batch)
    if found is None:
        raise ApiError(404, "not_found", f"no batch {batch!r} (views may lag the log)")
    return requester, batch, found


@route("GET", "/v1/batches", "The caller's batches, newest first (cursor-paged)", OWNERS,
       ok={200: "a page of batches"}, errors=LIST, query=("limit", "cursor", "requester_id"),
       out=BatchPage)
async def list_batches(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    requester = _requester(request, actor)
    cursor, limit = paging(request)
    items, after = await _off_loop(listings.batches_page, svc.views, requester, cursor, limit)
    return reply(BatchPage(requester_id=requester, items=[typed(Batch, i) for i in items],
                           next_cursor=after))


@route("GET", "/v1/batches/{batch_id}", "A batch's progress: tasks per status, escrow, spend",
       OWNERS, ok={200: "the batch"}, errors=READ, query=("requester_id",), out=BatchProgress)
async def get_batch(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    _, _, found = await _progress(request, actor, svc)
    return reply(typed(BatchProgress, found))


@route("GET", "/v1/batches/{batch_id}/tasks", "A batch's tasks, in posting order, by status",
       OWNERS, ok={200: "a page of tasks"}, errors=READ,
       query=(("status", ListedTaskStatus), "limit", "cursor", "requester_id"), out=TaskPage)
async def list_batch_tasks(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    requester, batch, _ = await _progress(request, actor, svc)
    cursor, limit = paging(request)
    status = request.query.get("status") or None
    try:
        items, after = await _off_loop(listings.batch_tasks_page, svc.views, requester, batch,
                                       status, cursor, limit)
    except BadQuery as exc:
        raise ApiError(422, "bad_query", str(exc)) from exc
    return reply(TaskPage(batch_id=batch, status=status, items=[typed(Task, i) for i in items],
                          next_cursor=after))


@route("GET", "/v1/submissions", "Submissions by status: the review queue (cursor-paged)",
       OWNERS, ok={200: "a page of submissions"}, errors=LIST,
       query=(("status", Annotated[ListedSubmissionStatus, Schema(default="submitted")]),
              "batch_id", "limit", "cursor", "requester_id"),
       out=SubmissionPage)
async def list_submissions_by_status(request: web.Request, actor: Actor,
                                     svc: Services) -> web.Response:  # fmt: skip
    requester = _requester(request, actor)
    cursor, limit = paging(request)
    status = request.query.get("status") or "submitted"
    batch = request.query.get("batch_id") or None
    try:
        items, after = await _off_loop(listings.submissions_page, svc.views, requester, status,
                                       batch, cursor, limit)
    except BadQuery as exc:
        raise ApiError(422, "bad_query", str(exc)) from exc
    return reply(SubmissionPage(status=status, batch_id=batch, next_cursor=after,
                                items=[typed(Submission, i) for i in items]))


def _wants_csv(request: web.Request) -> bool:
    wanted = request.query.get("format")
    if wanted not in (None, "", "jsonl", "csv"):
        raise ApiError(422, "bad_query", "format is jsonl or csv")
    if wanted:
        return wanted == "csv"
    return "text/csv" in request.headers.get("Accept", "")


def _csv_text(rows: list[dict[str, Any]], header: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(listings.RESULT_COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else
                         json.dumps(row[c], ensure_ascii=False, separators=(",", ":"))
                         if c == "answer" else row[c] for c in listings.RESULT_COLUMNS])
    return out.getvalue()


def _jsonl_text(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
                   for row in rows)


@route("GET", "/v1/batches/{batch_id}/results",
       "Every submission of a batch with its answer, as JSON lines or CSV (streamed)", OWNERS,
       ok={200: "application/x-ndjson, or text/csv with a header row"}, errors=READ,
       query=("format", "requester_id"), media=("application/x-ndjson", "text/csv"))
async def batch_results(request: web.Request, actor: Actor, svc: Services) -> web.StreamResponse:
    as_csv = _wants_csv(request)
    requester, batch, _ = await _progress(request, actor, svc)
    rows: Iterator[dict[str, Any]] = listings.results(svc.views, requester, batch)
    response = web.StreamResponse(headers={
        "Content-Type": ("text/csv; charset=utf-8" if as_csv
                         else "application/x-ndjson; charset=utf-8"),
        "Content-Disposition": f'attachment; filename="{batch}.{"csv" if as_csv else "jsonl"}"',
    })
    response.enable_chunked_encoding()
    await response.prepare(request)
    first = True
    try:
        while True:  # one bounded slice of rows in memory at a time
            chunk = await _off_loop(lambda: list(islice(rows, RESULT_ROWS_PER_WRITE)))
            if as_csv and (chunk or first):
                await response.write(_csv_text(chunk, header=first).encode())
            elif chunk:
                await response.write(_jsonl_text(chunk).encode())
            first = False
            if len(chunk) < RESULT_ROWS_PER_WRITE:
                break
    except (RedisError, OSError):
        # The status line is sent: end the connection without the last chunk, so the
        # client sees a truncated export rather than a complete-looking one.
        log.warning("results export of %s cut short", batch, exc_info=True)
        response.force_close()
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response
