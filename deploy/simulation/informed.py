"""An informed worker's claims: from the task group its requesters' scorecards recommend
(deploy/simulation/group_choice.py), not the global best task.

It lists the groups (GET /v1/task-groups, sorted by the requester's measured wage, one
page) at most every REFRESH_VIRTUAL_S of marketplace time, and sooner only when every group
it chose has run dry, never more than once a wall second: the API load stays bounded
whatever the number of claims. Between listings it claims from its ranked groups, best
first (POST /v1/claims naming the group), dropping a group that has nothing left for it.
"""

from __future__ import annotations

import time
from contextlib import aclosing
from typing import Any

from deploy.simulation.group_choice import choose
from deploy.simulation.model import Worker
from deploy.simulation.world import World, attempt

SORT = "requester_wage"
GROUPS_PAGE = 100  # the first page is enough: the best groups come first
REFRESH_VIRTUAL_S = 30 * 60
REFRESH_FLOOR_WALL_S = 1.0
TRIES = 3  # groups tried per claim before giving up for now


def refresh_wall_s(clock_speed: float) -> float:
    """The longest a listing is used for, in wall seconds: how stale a flag can be."""
    return max(REFRESH_FLOOR_WALL_S, REFRESH_VIRTUAL_S / clock_speed)


class Browser:
    """One informed worker's view of the open groups."""

    def __init__(self, world: World, me: Worker) -> None:
        self.world, self.me = world, me
        self.client = world.clients[me.worker_id]
        self.ranked: list[dict[str, Any]] = []
        self.listed_at = float("-inf")
        self.every = refresh_wall_s(world.speed)

    def _due(self) -> bool:
        age = time.monotonic() - self.listed_at
        return age >= self.every or (not self.ranked and age >= REFRESH_FLOOR_WALL_S)

    async def claim(self) -> tuple[dict[str, Any] | None, str | None]:
        """(claim, None), (None, None) when no chosen group has work now, or (None, code)."""
        split = self.world.summary.split
        for _ in range(TRIES):
            if self._due():
                code = await self._list()
                if code is not None:
                    return None, code
            if not self.ranked:
                return None, None
            group = self.ranked[0]
            sent_at = time.time()
            claims, code = await attempt(self.client.claim_suite(1, group["group_id"]))
            if code == "server_error":
                return None, code
            if claims:
                split.group_claims += 1
                tally = split.requester(group["requester_id"])
                if tally is not None:
                    tally.last_informed_claim_at = sent_at
                return claims[0], None
            split.empty_group_claims += 1  # taken by others, or all done by this worker
            self.ranked.pop(0)
        return None, None

    async def _first_page(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        async with aclosing(self.client.task_groups(SORT, limit=GROUPS_PAGE)) as groups:
            async for group in groups:
                found.append(group)
                if len(found) >= GROUPS_PAGE:
                    break
        return found

    async def _list(self) -> str | None:
        self.listed_at = time.monotonic()
        seen_at = time.time()
        groups, code = await attempt(self._first_page())
        if code is not None:
            return code
        split = self.world.summary.split
        split.group_listings += 1
        choice = choose(groups)
        for requester_id in {g["requester_id"] for g in groups}:
            tally = split.requester(requester_id)
            if tally is None:
                continue  # another run's requester
            tally.flagged_last = requester_id in choice.flagged
            if tally.flagged_last and tally.flag_seen_at is None:
                tally.flag_seen_at = seen_at
        self.ranked = list(choice.ranked)
        return None
