"""Requester endpoints: fund the account, post batches, review work, bonus, cancel."""

from __future__ import annotations

import asyncio

from aiohttp import web

from broker.api import idempotency
from broker.api.auth import Actor
from broker.api.bodies import BatchBody, BonusBody, DepositBody, ReasonBody
from broker.api.json_input import check_encoded_size
from broker.api.resources import (
    BonusPaid,
    ChunkRefusal,
    Outcome,
    PostedBatch,
    PostedChunk,
    Released,
)
from broker.api.responses import ApiError, build, envelope, outcome, read_body, refusal, reply, run
from broker.api.routes import COMMAND, COMMAND_HEADERS, route
from broker.api.services import Services
from broker.api.shaping import typed
from schemas.commands import (
    ApproveSubmission,
    CancelTask,
    DepositFunds,
    GrantBonus,
    PostTasks,
    RejectSubmission,
    TaskSpec,
)
from schemas.envelope import Reply
from schemas.errors import SchemaError
from schemas.fields import to_plain
from schemas.ids import task_of_claim

REQUESTER = ("requester",)
# Half the broker's default record limit (message.max.bytes, ~1 MiB): room for the envelope.
MAX_CHUNK_BYTES = 512 * 1024


def task_of(submission_or_claim_id: str) -> str:
    """The task a claim or submission id names (schemas.ids); 404 if it names none."""
    try:
        return task_of_claim(submission_or_claim_id)
    except SchemaError as exc:
        raise ApiError(404, "not_found", str(exc)) from exc


@route("POST", "/v1/deposits", "Add funds to the requester's account", REQUESTER, DepositBody,
       ok={201: "deposited"}, out=Outcome, headers=COMMAND_HEADERS)
async def deposit(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    body = await read_body(request, DepositBody)
    command = build(DepositFunds, {"requester_id": actor.actor_id, **to_plain(body)})
    return await run(svc.gateway, request, actor, command, status=201)


@route("POST", "/v1/batches", "Post a batch of tasks (escrow is reserved)", REQUESTER, BatchBody,
       ok={201: "posted", 200: "already posted: the same batch again", 207: "partly posted"},
       errors={**COMMAND, 413: "too many tasks, or a payload over its limit"}, out=PostedBatch,
       headers=("X-Correlation-Id",))  # the batch id is its idempotency key
async def post_batch(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    """A batch id names one immutable batch, and is the batch's own idempotency key: the
    same batch again is answered 200 with its task ids; another batch under that id, 409."""
    body = await read_body(request, BatchBody)
    if len(body.tasks) > svc.policy.max_batch_tasks:
        raise ApiError(413, "batch_too_large", f"at most {svc.policy.max_batch_tasks} tasks")
    payload_sizes = [check_encoded_size(f"tasks[{i}].payload", spec.payload,
                                        svc.max_payload_bytes, "payload_too_large")
                     for i, spec in enumerate(body.tasks)]  # fmt: skip
    # Chunks keep each command small. Every chunk carries the whole body's fingerprint, so
    # a chunk id seen again with another body is a different batch under a reused id.
    chunks = chunked(body.tasks, payload_sizes, svc.batch_chunk, MAX_CHUNK_BYTES)
    fingerprint = idempotency.body_fingerprint(request.method, request.path, await request.read())
    envelopes = [
        envelope(request, actor, f"post:{actor.actor_id}:{body.batch_id}.{k}",
                 build(PostTasks, {"requester_id": actor.actor_id,
                                   "batch_id": f"{body.batch_id}.{k}", "tasks": chunk}),
                 fingerprint)
        for k, chunk in enumerate(chunks)
    ]
    # The first chunk alone first: if the id is taken by another batch, nothing is posted.
    first = await svc.gateway.send(envelopes[0])
    if first.code in ("idempotency_key_reused", "duplicate_batch"):
        raise ApiError(409, "duplicate_batch",
                       f"batch {body.batch_id!r} was already posted with other tasks")
    replies = [first, *await asyncio.gather(*(svc.gateway.send(e) for e in envelopes[1:]))]
    return batch_answer(body.batch_id, replies)


def batch_answer(batch_id: str, replies: list[Reply]) -> web.Response:
    """201 posted, 200 all posted before (a retry), 207 some chunks refused; what was newly
    posted and what already existed are counted apart."""
    refused = [r for r in replies if not r.accepted]
    if len(refused) == len(replies):
        raise refusal(refused[0])
    accepted = [r for r in replies if r.accepted]
    existing = [r for r in accepted if r.replayed]
    status = 207 if refused else 200 if len(existing) == len(replies) else 201
    task_ids = _task_ids(accepted)
    return reply(PostedBatch(
        batch_id=batch_id,
        task_ids=task_ids,
        posted=len(task_ids) - len(_task_ids(existing)),
        existing=len(_task_ids(existing)),
        commands=[typed(PostedChunk, outcome(r)) for r in accepted],
        refused=[ChunkRefusal(command_id=r.command_id, code=r.code, message=r.message)
                 for r in refused],
    ), status)


def _task_ids(replies: list[Reply]) -> list[str]:
    return [t for r in replies for t in r.result.get("task_ids", [])]


def chunked(tasks: tuple[TaskSpec, ...], payload_sizes: list[int], max_tasks: int,
            max_bytes: int) -> list[tuple[TaskSpec, ...]]:
    """Consecutive chunks of at most `max_tasks` tasks and about `max_bytes` encoded: a
    command is one Kafka record, refused by the broker above ~1 MiB. A function of the
    body alone, so a retried request makes the same chunks (and command ids)."""
    found: list[tuple[TaskSpec, ...]] = []
    current: list[TaskSpec] = []
    size = 0
    for spec, payload in zip(tasks, payload_sizes, strict=True):
        # The payload dominates; the other fields are bounded small strings and numbers.
        cost = payload + 4 * (len(spec.title) + sum(map(len, spec.qualifications))) + 256
        if current and (len(current) >= max_tasks or size + cost > max_bytes):
            found.append(tuple(current))
            current, size = [], 0
        current.append(spec)
        size += cost
    return [*found, tuple(current)] if current else found


@route("POST", "/v1/submissions/{submission_id}/approve", "Approve a submission (pays it)",
       REQUESTER, out=Outcome, headers=COMMAND_HEADERS)
async def approve(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    sid = request.match_info["submission_id"]
    command = build(ApproveSubmission, {"task_id": task_of(sid), "submission_id": sid,
                                        "requester_id": actor.actor_id})
    return await run(svc.gateway, request, actor, command)


@route("POST", "/v1/submissions/{submission_id}/reject", "Reject a submission (reason required)",
       REQUESTER, ReasonBody, out=Outcome, headers=COMMAND_HEADERS)
async def reject(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    sid = request.match_info["submission_id"]
    body = await read_body(request, ReasonBody)
    command = build(RejectSubmission, {"task_id": task_of(sid), "submission_id": sid,
                                       "requester_id": actor.actor_id, "reason": body.reason})
    return await run(svc.gateway, request, actor, command)


@route("POST", "/v1/tasks/{task_id}/bonus", "Pay a worker a bonus on a task", REQUESTER, BonusBody,
       out=BonusPaid, headers=COMMAND_HEADERS)
async def bonus(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    body = await read_body(request, BonusBody)
    command = build(GrantBonus, {"task_id": request.match_info["task_id"],
                                 "requester_id": actor.actor_id, **to_plain(body)})
    return await run(svc.gateway, request, actor, command, out=BonusPaid)


@route("POST", "/v1/tasks/{task_id}/cancel", "Cancel a task (unused escrow returns)", REQUESTER,
       out=Released, headers=COMMAND_HEADERS)
async def cancel(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    command = build(CancelTask, {"task_id": request.match_info["task_id"],
                                 "requester_id": actor.actor_id})
    return await run(svc.gateway, request, actor, command, out=Released)
