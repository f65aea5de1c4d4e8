"""The simulated people: requesters post and review, workers claim and work, the operator
rules on disputes and pays out. Each acts only through its own API client."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from deploy.simulation.informed import Browser
from deploy.simulation.kinds import HOUR, PlannedTask, answer_for, lognormal
from deploy.simulation.model import (
    DISPUTE_REASONS,
    PROFILES,
    Requester,
    Review,
    Worker,
    claim_outcome,
    disputes,
    overturns,
    reaction_s,
    review,
)
from deploy.simulation.plan import PlannedBatch
from deploy.simulation.world import Posted, Submitted, World, attempt
from schemas.ids import requester_of_task

OPERATOR = "operator"
IDLE_VIRTUAL_S = 60.0  # a worker with nothing to do looks again about a minute later
PAYOUT_EVERY_S = HOUR  # compressed from the usual daily or weekly payout runs
MIN_PAYOUT = 500_000  # 0.50 of a currency unit
SERVER_ERROR_BACKOFF_S = 0.5
PAYOUT_CONCURRENCY = 8
FOREIGN_WORK_S = 60.0


async def poster(world: World, requester: Requester, batches: list[PlannedBatch]) -> None:
    client = world.clients[requester.requester_id]
    for batch in batches:
        await world.until(batch.at_s)
        specs = [t.spec for t in batch.tasks]
        posted, code = await attempt(client.post_batch(batch.batch_id, specs))
        if code in ("insufficient_funds", "account_in_debt"):
            # Overturns may have drained the account: top up, as a real requester would.
            await attempt(client.deposit(2 * batch.cost_bound, requester.currency))
            posted, code = await attempt(client.post_batch(batch.batch_id, specs))
        if posted is not None:
            _register(world, requester, batch.tasks, posted["task_ids"])


def _register(world: World, requester: Requester, tasks: tuple[PlannedTask, ...],
              task_ids: list[str]) -> None:
    # Ids come in the plan's order; if a chunk was refused, a batch of one chunk (the plan
    # never exceeds one) still names each task by its index in the plan.
    paired = zip(task_ids, tasks, strict=True) if len(task_ids) == len(tasks) else (
        (t, tasks[int(t.rsplit(":", 1)[1])]) for t in task_ids)
    for task_id, task in paired:
        world.tasks[task_id] = Posted(requester.requester_id, task)
        world.summary.tasks_posted += 1
        world.summary.assignments_posted += task.spec["assignments"]
    world.summary.batches_posted += 1


async def worker(world: World, me: Worker) -> None:
    client = world.clients[me.worker_id]
    rng = world.rng(me.worker_id)
    browser = Browser(world, me) if me.informed else None
    while True:
        await world.pause(lognormal(rng, me.search_median_s, 0.5))  # unpaid search time
        if browser is not None:
            claim, code = await browser.claim()
        else:
            claim, code = await attempt(client.claim_next())
        if code is not None:
            await asyncio.sleep(SERVER_ERROR_BACKOFF_S if code == "server_error" else 0.1)
            continue
        if claim is None:
            world.summary.empty_claims += 1
            await world.pause(lognormal(rng, IDLE_VIRTUAL_S, 0.3), floor=0.2, cap=5.0)
            continue
        world.summary.claims += 1
        world.summary.split.count(requester_of_task(claim["task_id"]), me.informed, "claims")
        await world.guarded(lambda c=claim: _work(world, me, rng, c))


async def _work(world: World, me: Worker, rng: random.Random, claim: dict[str, Any]) -> None:
    client = world.clients[me.worker_id]
    posted = await world.task(claim["task_id"])
    if posted is None:
        # Another run's task on a shared stack: do it as any worker would (giving it back
        # would only hand it to the next worker); its auto-approval will pay it.
        world.summary.foreign_claims += 1
        await world.pause(FOREIGN_WORK_S)
        await attempt(client.submit(claim["claim_id"], answer_for("foreign", rng)))
        return
    outcome = claim_outcome(rng, me, posted.task.work_s)
    await world.pause(outcome.work_s)
    if outcome.action == "abandon":
        world.summary.abandons += 1  # silence: the timer will expire the lease
        return
    if outcome.action == "release":
        if (await attempt(client.release(claim["claim_id"])))[1] is None:
            world.summary.releases += 1
        return
    spec = posted.task.spec
    done, _ = await attempt(client.submit(claim["claim_id"], answer_for(spec["kind"], rng)))
    if done is None:
        return  # lease_expired and friends: the work is lost, and counted as refused
    world.summary.submissions += 1
    world.summary.split.count(posted.requester_id, me.informed, "submissions")
    world.reviews[posted.requester_id].put_nowait(
        Submitted(done["submission_id"], claim["task_id"], me.worker_id, spec["reward"]))


async def reviewer(world: World, requester: Requester) -> None:
    """Learn of submissions, decide each at once, act on it after the profile's delay."""
    rng = world.rng(requester.requester_id)
    profile = PROFILES[requester.profile]
    queue = world.reviews[requester.requester_id]
    while True:
        sub = await queue.get()
        decision = review(rng, profile, requester.reject_p)
        world.later(decision.delay_s,
                    lambda s=sub, d=decision: _review(world, requester, s, d))


async def _review(world: World, requester: Requester, sub: Submitted, decision: Review) -> None:
    client = world.clients[requester.requester_id]
    summary = world.summary
    if decision.approve:
        done, code = await attempt(client.approve(sub.submission_id))
    else:
        done, code = await attempt(client.reject(sub.submission_id, decision.reason))
    if code == "not_pending":  # too late: auto-approval paid the worker
        summary.auto_approvals_seen += 1
        return
    if done is None:
        return
    informed = world.workers[sub.worker_id].informed
    if decision.approve:
        summary.approvals += 1
        summary.split.count(requester.requester_id, informed, "approvals")
        if decision.bonus_share:
            amount = max(1, round(sub.reward * decision.bonus_share))
            granted, _ = await attempt(client.bonus(sub.task_id, sub.worker_id, amount,
                                                    "Careful work, thank you."))
            if granted is not None:
                summary.bonuses += 1
        return
    summary.rejections += 1
    summary.split.count(requester.requester_id, informed, "rejections")
    me = world.workers[sub.worker_id]
    rng = world.rng(f"{me.worker_id}/disputes")
    if disputes(rng, me, decision.thin):
        reason = rng.choice(DISPUTE_REASONS)
        world.later(reaction_s(rng, HOUR),
                    lambda: _dispute(world, me, sub, decision.thin, reason))


async def _dispute(world: World, me: Worker, sub: Submitted, thin: bool, reason: str) -> None:
    done, _ = await attempt(world.clients[me.worker_id].dispute(sub.submission_id, reason))
    if done is None:
        return
    world.summary.disputes += 1
    rng = world.rng(OPERATOR)
    if overturns(rng, thin):
        world.later(reaction_s(rng, 2 * HOUR), lambda: _overturn(world, sub))


async def _overturn(world: World, sub: Submitted) -> None:
    done, _ = await attempt(world.clients[OPERATOR].overturn(sub.submission_id))
    if done is not None:
        world.summary.overturns += 1


async def payouts(world: World) -> None:
    """The operator pays out every worker's balance, as the ledger view shows it (the
    wallet aggregate still decides: a lagging view can only cause a refusal)."""
    client = world.clients[OPERATOR]
    gate = asyncio.Semaphore(PAYOUT_CONCURRENCY)

    async def sweep(worker_id: str) -> None:
        async with gate:
            ledger, _ = await attempt(client.get(f"/v1/ledger/worker/{worker_id}"))
            for currency, account in (ledger or {}).get("accounts", {}).items():
                amount = account.get("balance", 0)
                if amount < MIN_PAYOUT:
                    continue
                paid, _ = await attempt(client.payout(worker_id, amount, currency))
                if paid is not None:
                    world.summary.payouts += 1
                    world.summary.paid_out[currency] += amount

    while True:
        await world.pause(PAYOUT_EVERY_S, floor=1.0, cap=10.0)
        await asyncio.gather(*(sweep(w.worker_id) for w in world.plan.workers))
