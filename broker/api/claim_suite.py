"""Claim a suite: up to 50 claims on distinct tasks in one request (POST /v1/claims with a
body; the route is handlers_worker.claim_next, whose single claim it extends).

Per round, the candidates (the queue view, or one task group) are drawn over a window by
this worker's rotation (claim_plan), one ClaimSuite per requester group, the claims still
wanted shared among them, all sent at once: each requester's partition decides its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from aiohttp import web

from broker.api import idempotency
from broker.api.auth import Actor
from broker.api.claim_plan import (
    LOST_RACE,
    MAX_SUITE_CANDIDATES,
    pack_suite,
    plan,
    shares,
    suite_suffix,
    suite_take,
    unpack_suite,
)
from broker.api.hints import Schema
from broker.api.resources import ClaimedSuite
from broker.api.responses import ApiError, build, command_id, envelope, refusal, reply
from broker.api.services import Services
from broker.api.shaping import typed
from consumers.queries.group_candidates import GroupScript
from schemas import ids, rules
from schemas.commands import MAXIMUM_SUITE, ClaimSuite
from schemas.envelope import Reply

SUITE_ROUNDS = 3  # reads of the candidates before answering with what was claimed
# A suite draws its candidates (by this worker's rotation) from a window WINDOW_FACTOR
# times as wide: concurrent workers then mostly draw different tasks, where a window as
# narrow as the candidates made them collide on the head and pay more rounds.
WINDOW_FACTOR = 4
MAX_WINDOW = 4 * MAX_SUITE_CANDIDATES
# The last entry of a claim-suite memory once the request was answered, with its fingerprint
ANSWERED = "answered"


@dataclass(frozen=True, slots=True)
class ClaimSuiteBody:
    count: Annotated[int, Schema(minimum=1, maximum=MAXIMUM_SUITE, default=1,
                                 description="claims wanted, at most")] = 1  # fmt: skip
    group: Annotated[str | None, Schema(pattern=f"^{ids.IDENT}$", description=(
        "a task group's id (GET /v1/task-groups): claim only from that group"))] = None

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAXIMUM_SUITE:
            raise ValueError(f"count must be in [1, {MAXIMUM_SUITE}], got {self.count}")
        if self.group is not None:
            rules.ident("group", self.group)


Read = Callable[[int, str | None], Awaitable[tuple[list[str], list[str]]]]


async def _reader(svc: Services, actor: Actor, group: str | None, window: int,
                  memory: str | None) -> tuple[Read, list[str], list[str]]:  # fmt: skip
    """How to read candidates (the queue, or one task group), and the first read."""
    if group is None:
        def read(limit: int, mem: str | None) -> Awaitable[tuple[list[str], list[str]]]:
            return svc.queue(actor.actor_id, actor.qualifications, limit, mem)
        entries, found = await read(window, memory)
        return read, entries, found
    script = svc.group_reader = svc.group_reader or GroupScript(svc.redis)
    first = await script.read(group, actor.actor_id, window, memory)
    if first is None:
        raise ApiError(404, "group_not_found", f"no task group {group!r}")
    missing = sorted(set(first.qualifications) - set(actor.qualifications))
    if missing:
        raise ApiError(403, "missing_qualification", f"the group requires {missing}")

    async def read_group(limit: int, mem: str | None) -> tuple[list[str], list[str]]:
        found = await script.read(group, actor.actor_id, limit, mem)
        return ([], []) if found is None else (found.memory, found.candidates)

    return read_group, first.memory, first.candidates


class _Suite:
    """The claims gathered so far, and how to ask for more."""

    def __init__(self, request: web.Request, actor: Actor, svc: Services, count: int,
                 base: tuple[str, str], memory: str | None) -> None:  # fmt: skip
        self.request, self.actor, self.svc = request, actor, svc
        self.base, self.memory = base, memory
        self.remaining = count
        self.claims: list[dict[str, Any]] = []
        self.replies: list[Reply] = []
        self.tried: set[str] = set()
        self.stopped: Reply | None = None  # a refusal that is not a lost race

    async def ask(self, asks: list[tuple[tuple[str, ...], int]], remember: bool) -> None:
        """One ClaimSuite per (group, count), all at once: each group is one requester's,
        so they go to different partitions and are decided in parallel."""
        for group, _ in asks:
            self.tried.update(group)
        if remember and self.memory:
            for group, count in asks:  # remembered before sent: a retry asks the same
                await self.svc.remember(keys=[self.memory], args=[
                    pack_suite(group, count), idempotency.WINDOW_SECONDS])  # fmt: skip
        replies = await asyncio.gather(*(self._send(g, n) for g, n in asks))
        for decided in replies:
            if decided.accepted:
                self.replies.append(decided)
                self.claims.extend(decided.result["claims"])
                self.remaining -= len(decided.result["claims"])
            elif decided.code not in LOST_RACE:
                self.stopped = self.stopped or decided

    async def _send(self, group: tuple[str, ...], count: int) -> Reply:
        command = build(ClaimSuite, {
            "requester_id": ids.requester_of_task(group[0]), "worker_id": self.actor.actor_id,
            "candidates": group, "count": count,
            "qualifications": self.actor.qualifications})  # fmt: skip
        base_id, fingerprint = self.base
        cmd_id = f"{base_id}.{suite_suffix(group, count)}"
        return await self.svc.gateway.send(envelope(self.request, self.actor, cmd_id, command,
                                                    fingerprint))  # fmt: skip

    @property
    def done(self) -> bool:
        return self.remaining <= 0 or self.stopped is not None


async def claim_suite(request: web.Request, actor: Actor, svc: Services,
                      body: ClaimSuiteBody) -> web.Response:  # fmt: skip
    """Up to body.count claims: per round, one ClaimSuite per requester group of
    candidates (drawn over the window by this worker's rotation, claim_plan), the claims
    still wanted shared among them, all sent at once."""
    base_id, fingerprint = command_id(request, actor), await idempotency.fingerprint(request)
    # As claim-next: with an Idempotency-Key the asks are remembered in order, so a retry
    # sends exactly those again first (answered from the processor's memory of replies).
    memory = idempotency.claim_memory_key(f"suite:{base_id}") if fingerprint else None
    window = min(MAX_WINDOW, WINDOW_FACTOR * suite_take(body.count))
    read, entries, found = await _reader(svc, actor, body.group, window, memory)
    suite = _Suite(request, actor, svc, body.count, (base_id, fingerprint), memory)
    answered = [e.partition(" ")[2] for e in entries if e.startswith(ANSWERED)]
    if answered and answered[0] != fingerprint:
        raise ApiError(422, "idempotency_key_reused",
                       "this Idempotency-Key was used for a different request")
    for entry in entries:
        if suite.done or entry.startswith(ANSWERED):
            break
        await suite.ask([unpack_suite(entry)], remember=False)
    # A retry of a request that was answered ends as it did: no more rounds.
    rounds = 0 if answered else SUITE_ROUNDS
    for round_ in range(rounds):
        if suite.done:
            break
        if round_:  # past the tasks tried: the view may not show the last round's claims yet
            _, found = await read(min(MAX_WINDOW, (window << round_) + len(suite.tried)), None)
        groups = plan(actor.actor_id, found, suite.tried, suite_take(suite.remaining),
                      MAX_SUITE_CANDIDATES)  # fmt: skip
        asks = [(g, n) for g, n in zip(groups, shares(groups, suite.remaining), strict=True)
                if n]  # fmt: skip
        if not asks:
            break
        await suite.ask(asks, remember=True)
    if memory and not answered:  # with the request's fingerprint: a reused key is told
        await svc.remember(keys=[memory], args=[f"{ANSWERED} {fingerprint}",
                                                idempotency.WINDOW_SECONDS])  # fmt: skip
    if not suite.claims:
        if suite.stopped is not None:
            raise refusal(suite.stopped)
        return web.Response(status=204)
    answer = {"command_ids": [r.command_id for r in suite.replies],
              "events": [e for r in suite.replies for e in r.event_ids], "claims": suite.claims}
    return reply(typed(ClaimedSuite, answer), 201, replayed_headers(suite.replies))


def replayed_headers(replies: list[Reply]) -> dict[str, str] | None:
    """Idempotent-Replayed when every command of the request was answered from memory."""
    return {"Idempotent-Replayed": "true"} if replies and all(r.replayed for r in replies) \
        else None  # fmt: skip
