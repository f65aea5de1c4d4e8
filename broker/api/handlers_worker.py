"""Worker endpoints: claim (the next fitting task, or a given one), submit, release, dispute."""

from __future__ import annotations

from aiohttp import web

from broker.api import idempotency, json_input
from broker.api.auth import Actor
from broker.api.bodies import ReasonBody, SubmitBody
from broker.api.claim_plan import (
    GROUP_LIMIT,
    LOST_RACE,
    attempt_suffix,
    pack,
    plan,
    unpack,
)
from broker.api.claim_suite import ClaimSuiteBody, claim_suite
from broker.api.handlers_requester import task_of
from broker.api.resources import Claimed, ClaimedSuite, Outcome, Released, Submitted
from broker.api.responses import (
    build,
    command_id,
    envelope,
    outcome,
    read_body,
    refusal,
    replied,
    run,
)
from broker.api.routes import COMMAND, COMMAND_HEADERS, route
from broker.api.services import Services
from broker.api.shaping import typed
from schemas.commands import ClaimTask, DisputeRejection, ReleaseClaim, SubmitWork
from schemas.envelope import Reply

WORKER = ("worker",)
# A worker picks GROUP_LIMIT tasks from the best WINDOW (claim_plan.plan), and from a
# window twice as wide, past the tasks tried, in the second round.
WINDOW = 2 * GROUP_LIMIT
ROUNDS = 2  # a second read of the queue before answering 204


@route("POST", "/v1/claims", "Claim the best open task this worker qualifies for; with a body,"
       " a suite of up to 50 distinct tasks (count), from one task group if named (group)",
       WORKER, ClaimSuiteBody,
       ok={201: "claimed: one claim (no body), or the suite's claims (a body)",
           204: "nothing fits now"},
       errors={**COMMAND, 403: "not yours, or the group needs a qualification the worker lacks",
               404: "no such task group (group_not_found)"},
       out=Claimed | ClaimedSuite, headers=COMMAND_HEADERS)  # fmt: skip
async def claim_next(request: web.Request, actor: Actor, svc: Services) -> web.StreamResponse:
    if request.body_exists:  # a suite; without a body, the single claim as it always was
        json_input.check_media_type(request.headers.get("Content-Type"))
        options = json_input.parse(await request.read())
        if options is not None:
            return await claim_suite(request, actor, svc, build(ClaimSuiteBody, options))
    base = base_id, fingerprint = command_id(request, actor), await idempotency.fingerprint(request)
    # With an Idempotency-Key, the groups tried are remembered in order: a retry (the API
    # died, the client timed out) asks again for exactly those first, and the processor
    # answers each from its memory of replies, so the retry ends as the first try did.
    # One round trip reads that memory and the first round's candidates (QueueScript).
    memory = idempotency.claim_memory_key(base_id) if fingerprint else None
    entries, found = await svc.queue(actor.actor_id, actor.qualifications, WINDOW, memory)
    tried = [unpack(e) for e in entries]
    for group in tried:
        if (claimed := await _claim_or_lose(request, actor, svc, base, group)) is not None:
            return claimed
    for round_ in range(ROUNDS):
        # Past the tasks tried already: a view that has not caught up with the claims of
        # the last round still yields new candidates, not the same lost head again.
        done = {t for g in tried for t in g}
        if round_:
            _, found = await svc.queue(actor.actor_id, actor.qualifications,
                                       (WINDOW << round_) + len(done), None)  # fmt: skip
        groups = plan(actor.actor_id, found, done)
        if not groups:
            break
        for group in groups:
            tried.append(group)
            if memory:
                await svc.remember(keys=[memory],
                                  args=[pack(group), idempotency.WINDOW_SECONDS])
            if (claimed := await _claim_or_lose(request, actor, svc, base, group)) is not None:
                return claimed
    return web.Response(status=204)


async def _claim_or_lose(request: web.Request, actor: Actor, svc: Services,
                         base: tuple[str, str], group: tuple[str, ...]
                         ) -> web.Response | None:  # fmt: skip
    """The 201 if the group's claim was accepted, None if other workers took its tasks;
    any other refusal is the answer."""
    reply = await _claim(request, actor, svc, base, group)
    if reply.accepted:
        # a reply decided before alternatives existed names no task: it was the group's only
        return replied(reply, typed(Claimed, {"task_id": group[0], **outcome(reply)}), 201)
    if reply.code not in LOST_RACE:
        raise refusal(reply)
    return None


async def _claim(request: web.Request, actor: Actor, svc: Services, base: tuple[str, str],
                 group: tuple[str, ...]) -> Reply:  # fmt: skip
    command = build(ClaimTask, {"task_id": group[0], "worker_id": actor.actor_id,
                                "qualifications": actor.qualifications,
                                "alternatives": group[1:]})  # fmt: skip
    # The tasks are part of the id: one id never names two claims, which could live on two
    # partitions and both be decided, minting the same event ids twice.
    base_id, fingerprint = base
    return await svc.gateway.send(envelope(request, actor, f"{base_id}.{attempt_suffix(group)}",
                                           command, fingerprint))  # fmt: skip


@route("POST", "/v1/tasks/{task_id}/claim", "Claim one given task", WORKER, ok={201: "claimed"},
       out=Claimed, headers=COMMAND_HEADERS)
async def claim_task(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    task_id = request.match_info["task_id"]
    command = build(ClaimTask, {"task_id": task_id, "worker_id": actor.actor_id,
                                "qualifications": actor.qualifications})
    # a reply decided before ClaimTask had alternatives names no task: it was this one
    return await run(svc.gateway, request, actor, command, status=201, out=Claimed,
                     known={"task_id": task_id})


@route("POST", "/v1/claims/{claim_id}/submit", "Submit the work of a live claim", WORKER,
       SubmitBody, ok={201: "submitted"}, out=Submitted, headers=COMMAND_HEADERS)
async def submit(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    claim_id = request.match_info["claim_id"]
    body = await read_body(request, SubmitBody)
    command = build(SubmitWork, {"task_id": task_of(claim_id), "claim_id": claim_id,
                                 "worker_id": actor.actor_id, "answer": body.answer})
    return await run(svc.gateway, request, actor, command, status=201, out=Submitted)


@route("POST", "/v1/claims/{claim_id}/release", "Give a claimed assignment back", WORKER,
       out=Released, headers=COMMAND_HEADERS)
async def release(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    claim_id = request.match_info["claim_id"]
    command = build(ReleaseClaim, {"task_id": task_of(claim_id), "claim_id": claim_id,
                                   "worker_id": actor.actor_id})
    return await run(svc.gateway, request, actor, command, out=Released)


@route("POST", "/v1/submissions/{submission_id}/dispute", "Contest a rejection", WORKER,
       ReasonBody, out=Outcome, headers=COMMAND_HEADERS)
async def dispute(request: web.Request, actor: Actor, svc: Services) -> web.Response:
    sid = request.match_info["submission_id"]
    body = await read_body(request, ReasonBody)
    command = build(DisputeRejection, {"task_id": task_of(sid), "submission_id": sid,
                                       "worker_id": actor.actor_id, "reason": body.reason})
    return await run(svc.gateway, request, actor, command)
