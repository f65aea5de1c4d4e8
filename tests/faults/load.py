"""A small marketplace driven through the HTTP API while faults are injected.

Requesters deposit and post batches, workers claim and submit (or abandon) work,
requesters approve or reject, or leave it to the timer's auto-approval. Every response
the clients accepted is remembered with its command id and event ids: the verdict then
checks each of them is in the log exactly once. Bounded in commands (the plan) and in
time (`budget_s`); it only ever talks to the given 127.0.0.1 URL.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from broker.client import ApiError, Client
from testkit.stack_processes import PATIENCE_S, PATIENT_RETRIES, Stack, probe

# Enough retries (0.2 s doubling, same Idempotency-Key) to outlast PATIENCE_S of 503s or
# refused connections: an API restart or a processor rebalance on a busy machine.
RETRIES = PATIENT_RETRIES
CALL_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Plan:
    requesters: int = 3
    workers: int = 8
    batches: int = 4  # per requester
    tasks: int = 40  # per batch
    assignments: int = 1
    submit_ratio: float = 1.0  # the rest of the claims are abandoned: their leases expire
    review: str = "approve"  # approve | mixed (1 in 4 rejected) | none (the timer approves)
    lease_seconds: int = 900
    auto_approve_seconds: int = 3 * 24 * 3600
    # Seconds on a quiet machine; a busy one is many times slower, and a load cut short
    # fails the tests' "the load stalled" check. The plan, not the budget, ends a load.
    budget_s: float = 2 * PATIENCE_S

    @property
    def claims(self) -> int:
        return self.requesters * self.batches * self.tasks * self.assignments

    def spec(self) -> dict[str, Any]:
        return {"kind": "survey", "reward": 50_000, "currency": "EUR", "estimated_seconds": 20,
                "assignments": self.assignments, "lease_seconds": self.lease_seconds,
                "auto_approve_seconds": self.auto_approve_seconds, "payload": {"q": "fault"}}


@dataclass
class Seen:
    """What the clients were told: accepted commands (id -> event ids) and other outcomes."""

    accepted: dict[str, tuple[str, ...]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    claims: int = 0
    finished: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, response: Any, what: str) -> Any:
        outcomes = response.get("commands", [response]) if isinstance(response, dict) else []
        with self.lock:
            for outcome in outcomes:
                self.accepted[outcome["command_id"]] = tuple(outcome["events"])
            self.outcomes[f"{what}: ok" if response is not None else f"{what}: none"] += 1
        return response

    def failed(self, exc: BaseException, what: str) -> None:
        code = f"{exc.status} {exc.code}" if isinstance(exc, ApiError) else type(exc).__name__
        with self.lock:
            self.outcomes[f"{what}: {code}"] += 1

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.accepted)


FAILURES = (ApiError, aiohttp.ClientError, asyncio.TimeoutError, TimeoutError)


async def _call(seen: Seen, what: str, coro: Any) -> Any:
    try:
        return seen.note(await coro, what)
    except FAILURES as exc:
        seen.failed(exc, what)
        return None


class Market:
    def __init__(self, url: str, operator_token: str, plan: Plan, seed: int = 1) -> None:
        self.url, self.operator_token, self.plan = url, operator_token, plan
        self.seen = Seen()
        self.rng = random.Random(seed)
        self.tag = uuid.uuid4().hex[:6]
        self.tokens: dict[str, str] = {}

    def client(self, token: str) -> Client:
        return Client(self.url, token, retries=RETRIES, timeout=CALL_TIMEOUT_S)

    async def create_actors(self) -> None:
        """Before any fault: creating an actor is not idempotent (its token is shown once)."""
        async with self.client(self.operator_token) as op:
            for i in range(self.plan.requesters):
                self.tokens[f"r{self.tag}x{i}"] = await op.create_actor(f"r{self.tag}x{i}",
                                                                       "requester")
            for i in range(self.plan.workers):
                self.tokens[f"w{self.tag}x{i}"] = await op.create_actor(f"w{self.tag}x{i}",
                                                                       "worker")

    async def run(self) -> Seen:
        if not self.tokens:
            await self.create_actors()
        stop_at = time.monotonic() + self.plan.budget_s
        requesters = [a for a in self.tokens if a.startswith("r")]
        queues: dict[str, asyncio.Queue[str | None]] = {r: asyncio.Queue() for r in requesters}
        try:
            await asyncio.wait_for(self._run(requesters, queues, stop_at),
                                   self.plan.budget_s + PATIENCE_S)
        finally:
            self.seen.finished = True
        return self.seen

    async def _run(self, requesters: list[str], queues: dict[str, asyncio.Queue[str | None]],
                   stop_at: float) -> None:
        posting = [asyncio.create_task(self._post(r)) for r in requesters]
        reviewing = [asyncio.create_task(self._review(r, queues[r])) for r in requesters]
        working = [self._work(w, queues, stop_at) for w in self.tokens if w.startswith("w")]
        await asyncio.gather(*posting, *working)
        for queue in queues.values():
            queue.put_nowait(None)
        await asyncio.gather(*reviewing)

    async def _post(self, requester: str) -> None:
        plan = self.plan
        async with self.client(self.tokens[requester]) as client:
            await _call(self.seen, "deposit", client.deposit(10**10, "EUR"))
            for b in range(plan.batches):
                batch = [plan.spec()] * plan.tasks
                await _call(self.seen, "post", client.post_batch(f"b{b}", batch))

    async def _work(self, worker: str, queues: dict[str, asyncio.Queue[str | None]],
                    stop_at: float) -> None:
        async with self.client(self.tokens[worker]) as client:
            while time.monotonic() < stop_at and self.seen.claims < self.plan.claims:
                claim = await _call(self.seen, "claim", client.claim_next())
                if claim is None:
                    await asyncio.sleep(0.05)
                    continue
                with self.seen.lock:
                    self.seen.claims += 1
                if self.rng.random() >= self.plan.submit_ratio:
                    continue  # abandoned: the timer expires the lease
                done = await _call(self.seen, "submit",
                                   client.submit(claim["claim_id"], {"answer": worker}))
                if done is not None and self.plan.review != "none":
                    requester = claim["task_id"].split(":", 1)[0]
                    queues[requester].put_nowait(done["submission_id"])

    async def _review(self, requester: str, queue: asyncio.Queue[str | None]) -> None:
        async with self.client(self.tokens[requester]) as client:
            while (sid := await queue.get()) is not None:
                if self.plan.review == "mixed" and self.rng.random() < 0.25:
                    await _call(self.seen, "reject", client.reject(sid, "not good enough"))
                else:
                    await _call(self.seen, "approve", client.approve(sid))


class Background:
    """The market in a thread of its own, so the test can kill and restart meanwhile."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="market", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self.market.run())
        except BaseException as exc:  # reported by join(), in the test's thread
            self.error = exc

    def start(self) -> Background:
        self.thread.start()
        return self

    def wait_for(self, accepted: int, timeout: float = PATIENCE_S) -> int:
        """Block until the clients saw `accepted` commands accepted (or the load ended)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.thread.is_alive():
            if self.market.seen.count >= accepted:
                break
            time.sleep(0.05)
        return self.market.seen.count

    def join(self, timeout: float | None = None) -> Seen:
        """What the clients saw, once the load ended; by default waits its budget and
        PATIENCE_S more (its last calls, their retries)."""
        timeout = self.market.plan.budget_s + PATIENCE_S if timeout is None else timeout
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the load did not finish in {timeout:.0f} s"
        if self.error is not None:
            raise self.error
        return self.market.seen


def start_load(stack: Stack, plan: Plan) -> Background:
    """Check the stack answers, create the plan's actors, and start trading in the
    background: what every fault test does before it injects its fault."""
    probe(stack)
    market = Market(stack.url, stack.operator_token, plan)
    asyncio.run(market.create_actors())
    return Background(market).start()
