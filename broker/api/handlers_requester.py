"""Requester endpoints: fund the account, post batches, review work, bonus, cancel."""

from __future__ import annotations

import asyncio

import msgpack
from aiohttp import web

from broker.api.auth import Actor
from broker.api.bodies import BatchBody, BonusBody, DepositBody, ReasonBody
from broker.api.responses import ApiError, build, envelope, outcome, read_body, refusal, run
from broker.api.routes import route
from broker.api.services import Services
from schemas.commands import (
    ApproveSubmission,
    CancelTask,
    DepositFunds,
    GrantBonus,
    PostTasks,
    RejectSubmission,
    TaskSpec,
)
from schemas.fields import to_plain
from schemas.rules import task_id as check_task_id

REQUESTER = ("requester",)
# Half the broker's default record limit (message.max.bytes, ~1 MiB): room for the envelope.
MAX_CHUNK_BYTES = 512 * 1024


def task_of(submission_or_claim_id: str) -> str:
    """Claims and submissions are named '<task_id>:c<n>'."""
    task, _, suffix = submission_or_claim_id.rpartition(":")
    if not suffix.startswith("c") or not suffix[1:].isdigit():
        raise ApiError(404, "not_found", f"no such claim or submission {submission_or_claim_id!r}")
    try:
        check_task_id("task_id", task)
    except ValueError as exc:
        raise ApiError(404, "not_found", str(exc)) from exc
    return task


@route("POST", "/v1/deposits", "Add funds to the requester's account", REQUESTER, DepositBody,
       ok={201: "deposited"})
async def deposit(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    body = await read_body(request, DepositBody)
    command = build(DepositFunds, {"requester_id": actor.actor_id, **to_plain(body)})
    return await run(svc.gateway, request, actor, command, status=201)


@route("POST", "/v1/batches", "Post a batch of tasks (escrow is reserved)", REQUESTER, BatchBody,
       ok={201: "posted", 207: "partly posted"}, errors=None)
async def post_batch(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    body = await read_body(request, BatchBody)
    if len(body.tasks) > svc.policy.max_batch_tasks:
        raise ApiError(413, "batch_too_large", f"at most {svc.policy.max_batch_tasks} tasks")
    payload_sizes = [len(msgpack.packb(spec.payload)) for spec in body.tasks]
    for i, size in enumerate(payload_sizes):
        if size > svc.max_payload_bytes:
            raise ApiError(413, "payload_too_large",
                           f"tasks[{i}].payload exceeds {svc.max_payload_bytes} bytes")
    # Chunks keep each command small; the chunk's batch id makes a retry idempotent.
    chunks = chunked(body.tasks, payload_sizes, svc.batch_chunk, MAX_CHUNK_BYTES)
    envelopes = [
        envelope(request, actor, f"post:{actor.actor_id}:{body.batch_id}.{k}",
                 build(PostTasks, {"requester_id": actor.actor_id,
                                   "batch_id": f"{body.batch_id}.{k}", "tasks": chunk}))
        for k, chunk in enumerate(chunks)
    ]
    replies = await asyncio.gather(*(svc.gateway.send(e) for e in envelopes))
    refused = [r for r in replies if not r.accepted]
    if refused and len(refused) == len(replies):
        raise refusal(refused[0])
    task_ids = [t for r in replies if r.accepted for t in r.result.get("task_ids", [])]
    return web.json_response(
        {
            "batch_id": body.batch_id,
            "task_ids": task_ids,
            "commands": [outcome(r) for r in replies if r.accepted],
            "refused": [{"code": r.code, "message": r.message, "command_id": r.command_id}
                        for r in refused],
        },
        status=207 if refused else 201,
    )


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
       REQUESTER)
async def approve(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    sid = request.match_info["submission_id"]
    command = build(ApproveSubmission, {"task_id": task_of(sid), "submission_id": sid,
                                        "requester_id": actor.actor_id})
    return await run(svc.gateway, request, actor, command)


@route("POST", "/v1/submissions/{submission_id}/reject", "Reject a submission (reason required)",
       REQUESTER, ReasonBody)
async def reject(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    sid = request.match_info["submission_id"]
    body = await read_body(request, ReasonBody)
    command = build(RejectSubmission, {"task_id": task_of(sid), "submission_id": sid,
                                       "requester_id": actor.actor_id, "reason": body.reason})
    return await run(svc.gateway, request, actor, command)


@route("POST", "/v1/tasks/{task_id}/bonus", "Pay a worker a bonus on a task", REQUESTER, BonusBody)
async def bonus(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    body = await read_body(request, BonusBody)
    command = build(GrantBonus, {"task_id": request.match_info["task_id"],
                                 "requester_id": actor.actor_id, **to_plain(body)})
    return await run(svc.gateway, request, actor, command)


@route("POST", "/v1/tasks/{task_id}/cancel", "Cancel a task (unused escrow returns)", REQUESTER)
async def cancel(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    command = build(CancelTask, {"task_id": request.match_info["task_id"],
                                 "requester_id": actor.actor_id})
    return await run(svc.gateway, request, actor, command)
