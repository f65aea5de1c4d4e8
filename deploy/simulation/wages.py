"""What each worker earned, as the broker measures it: every worker's statement (GET
/v1/me/statement) read when the run ends, added up per kind of worker (split.py)."""

from __future__ import annotations

import asyncio

from deploy.simulation.split import eur_equivalent
from deploy.simulation.world import World, attempt

CONCURRENCY = 8


async def collect(world: World) -> None:
    """Pay, work and unpaid time of this run's requesters (a statement per currency: its
    money is in one currency, its times across all, so each requester's line is taken
    from the statement in that requester's currency)."""
    currency_of = {r.requester_id: r.currency for r in world.plan.requesters}
    currencies = sorted(set(currency_of.values()))
    split = world.summary.split
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(worker_id: str, informed: bool) -> None:
        tally = split.of(informed)
        for currency in currencies:
            async with gate:
                found, _ = await attempt(world.clients[worker_id].statement(currency))
            for line in (found or {}).get("by_requester", []):
                if currency_of.get(line["requester_id"]) != currency:
                    continue  # another currency's line, or another run's requester
                tally.paid += eur_equivalent(line["paid"], currency)
                tally.work_ms += line["work_ms"]
                tally.unpaid_ms += line["unpaid_ms"]
                tally.pending_ms += line["pending_ms"]

    await asyncio.gather(*(one(w.worker_id, w.informed) for w in world.plan.workers))
