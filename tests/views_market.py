"""A whole marketplace lifecycle driven through the HTTP API, for the views' e2e tests.

Requesters deposit and post batches; a pool of async workers claims the next task and
submits it, or releases it at once, or abandons it (its lease then expires through the
timer); requesters approve, reject, or leave the submission to the timer's
auto-approval; the timer's payout runs pay the wallets. Every task ends with exactly one
submission (one assignment each: a released or expired claim reopens it), which is when
the load is done. Bounded in tasks and time; it only talks to the stack's 127.0.0.1 URL.
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
from testkit.stack_processes import PATIENCE_S, PATIENT_RETRIES

FAILURES = (ApiError, aiohttp.ClientError, asyncio.TimeoutError, TimeoutError)
REWARD = 30_000  # 3 euro-cents
# The stack a views test trades on: payout runs every 3 s of wall time at the tests'
# clock speed, 0.10 EUR pays most wallets, and the market is never rate-limited.
STACK_ENV = {
    "PIECEWORK_PAYOUT_INTERVAL_SECONDS": "1800",  # market seconds
    "PIECEWORK_PAYOUT_THRESHOLD": "100000",
    "PIECEWORK_RATE_LIMIT": "100000",
    "PIECEWORK_RATE_BURST": "100000",
}


@dataclass(frozen=True)
class Mix:
    tasks: int = 10_000
    requesters: int = 4
    batch: int = 500
    workers: int = 48
    # Tasks and workers split into skill groups (qualifications): workers of one group
    # compete for its tasks only, so fewer claims lose a race and are tried again.
    groups: int = 8
    reviewers: int = 6  # concurrent reviews per requester
    release: float = 0.04  # claims released at once
    abandon: float = 0.03  # claims never submitted: the lease expires
    reject: float = 0.15  # of the submissions
    unreviewed: float = 0.2  # of the submissions: auto-approved by the timer
    lease_seconds: int = 1_800  # market time: 3 s of real time at clock speed 600
    auto_approve_seconds: int = 1_800
    # Seconds on a quiet machine (10,000 tasks in about 90 s); a busy one is many times
    # slower, and a load cut short fails the tests that count its submissions.
    budget_s: float = 4 * PATIENCE_S

    def spec(self, i: int) -> dict[str, Any]:
        return {"kind": "image_labelling", "reward": REWARD, "currency": "EUR",
                "estimated_seconds": 15, "lease_seconds": self.lease_seconds,
                "auto_approve_seconds": self.auto_approve_seconds,
                "qualifications": [f"g{i % self.groups}"], "payload": {"img": i}}  # fmt: skip


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    submitted: int = 0
    started: float = field(default_factory=time.monotonic)

    def note(self, what: str) -> None:
        self.outcomes[what] += 1


class Market:
    def __init__(self, url: str, operator_token: str, mix: Mix, seed: int = 1) -> None:
        self.url, self.operator_token, self.mix = url, operator_token, mix
        self.rng = random.Random(seed)
        self.tag = uuid.uuid4().hex[:6]
        self.tally = Tally()
        self.posted = asyncio.Event()
        self.requester_index = {f"r{self.tag}x{i}": i for i in range(mix.requesters)}

    def client(self, token: str) -> Client:
        return Client(self.url, token, retries=PATIENT_RETRIES, timeout=30)

    async def _call(self, what: str, coro: Any) -> Any:
        try:
            result = await coro
        except FAILURES as exc:
            code = exc.code if isinstance(exc, ApiError) else type(exc).__name__
            self.tally.note(f"{what}: {code}")
            return None
        self.tally.note(f"{what}: ok" if result is not None else f"{what}: none")
        return result

    async def run(self) -> Tally:
        mix = self.mix
        async with self.client(self.operator_token) as op:
            requesters = await asyncio.gather(
                *(op.create_actor(f"r{self.tag}x{i}", "requester") for i in range(mix.requesters))
            )
            workers = await asyncio.gather(
                *(
                    op.create_actor(f"w{self.tag}x{i}", "worker", [f"g{i % mix.groups}"])
                    for i in range(mix.workers)
                )
            )
        reviews: asyncio.Queue[tuple[int, str] | None] = asyncio.Queue()
        deadline = time.monotonic() + mix.budget_s
        self.tally.started = time.monotonic()
        posting = asyncio.gather(*(self._post(i, t) for i, t in enumerate(requesters)))
        reviewing = [asyncio.create_task(self._review(requesters, reviews))
                     for _ in range(mix.reviewers * mix.requesters)]  # fmt: skip
        await asyncio.gather(posting, *(self._work(t, reviews, deadline) for t in workers))
        for _ in reviewing:
            reviews.put_nowait(None)
        await asyncio.gather(*reviewing)
        return self.tally

    async def _post(self, index: int, token: str) -> None:
        mix = self.mix
        mine = range(index, mix.tasks, mix.requesters)
        async with self.client(token) as requester:
            await self._call("deposit", requester.deposit(10**12, "EUR"))
            specs = [mix.spec(i) for i in mine]
            batches = [specs[i : i + mix.batch] for i in range(0, len(specs), mix.batch)]
            for b, batch in enumerate(batches):
                await self._call("post", requester.post_batch(f"b{b}", batch))
        self.tally.note("requesters done posting")
        if self.tally.outcomes["requesters done posting"] == mix.requesters:
            self.posted.set()

    async def _work(self, token: str, reviews: asyncio.Queue, deadline: float) -> None:
        mix, rng = self.mix, self.rng
        async with self.client(token) as worker:
            while self.tally.submitted < mix.tasks and time.monotonic() < deadline:
                claim = await self._call("claim", worker.claim_next())
                if claim is None:
                    await asyncio.sleep(0.2 if self.posted.is_set() else 0.05)
                    continue
                requester = claim["task_id"].split(":", 1)[0]
                if requester not in self.requester_index:  # the stack's probe task
                    await self._call("release foreign", worker.release(claim["claim_id"]))
                    continue
                roll = rng.random()
                if roll < mix.release:
                    await self._call("release", worker.release(claim["claim_id"]))
                    continue
                if roll < mix.release + mix.abandon:
                    self.tally.note("abandoned")
                    continue
                done = await self._call("submit", worker.submit(claim["claim_id"], {"a": 1}))
                if done is not None:
                    self.tally.submitted += 1
                    reviews.put_nowait((self.requester_index[requester], done["submission_id"]))

    async def _review(self, requesters: list[str], reviews: asyncio.Queue) -> None:
        mix, rng = self.mix, self.rng
        clients = {i: self.client(t) for i, t in enumerate(requesters)}
        for c in clients.values():
            await c.__aenter__()
        try:
            while (item := await reviews.get()) is not None:
                requester, sid = item
                roll = rng.random()
                if roll < mix.unreviewed:
                    self.tally.note("left to auto-approval")
                elif roll < mix.unreviewed + mix.reject:
                    await self._call("reject", clients[requester].reject(sid, "wrong label"))
                else:
                    await self._call("approve", clients[requester].approve(sid))
        finally:
            for c in clients.values():
                await c.close()


class Background:
    """The market in a thread of its own, so a test can kill and restart roles meanwhile."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self.tally: Tally | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="market", daemon=True)

    def _main(self) -> None:
        try:
            self.tally = asyncio.run(self.market.run())
        except BaseException as exc:  # re-raised by join(), in the test's thread
            self.error = exc

    def start(self) -> Background:
        self.thread.start()
        return self

    def wait_submitted(self, count: int, timeout: float = PATIENCE_S) -> int:
        deadline = time.monotonic() + timeout
        while self.market.tally.submitted < count and self.thread.is_alive():
            assert time.monotonic() < deadline, f"only {self.market.tally.submitted} submitted"
            time.sleep(0.05)
        return self.market.tally.submitted

    def join(self, timeout: float | None = None) -> Tally:
        """The load's tally once it ended; by default waits its budget and PATIENCE_S more
        (its last calls, their retries)."""
        timeout = self.market.mix.budget_s + PATIENCE_S if timeout is None else timeout
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the load did not finish in {timeout:.0f} s"
        if self.error is not None:
            raise self.error
        assert self.tally is not None
        return self.tally
