"""What a worker sees before it works: open task groups, requesters' scorecards, and its
own statement (broker/api/handlers_groups.py; figures defined in docs/METRICS.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from broker.client_http import Transport, raise_for_status, segment, with_query


class WorkerViews(Transport):
    def task_groups(self, sort: str = "reward_per_hour", *,
                    limit: int = 100) -> AsyncIterator[dict[str, Any]]:  # fmt: skip
        """Open task groups the worker qualifies for, best first by `sort`
        (reward_per_hour, requester_wage or newest), each with its requester's scorecard."""
        return self.pages("/v1/task-groups", {"sort": sort, "limit": limit})

    async def scorecard(self, requester_id: str, currency: str = "EUR") -> Any:
        """A requester's scorecard: measured wage, rejection rate, disputes, time to pay."""
        path = with_query(f"/v1/requesters/{segment(requester_id)}/scorecard",
                          {"currency": currency})  # fmt: skip
        return await self.call("GET", path)

    async def statement(self, currency: str = "EUR") -> Any:
        """The worker's own statement: pay, work and unpaid time per requester and overall."""
        return await self.call("GET", with_query("/v1/me/statement", {"currency": currency}))

    async def statement_csv(self, currency: str = "EUR") -> str:
        """The same statement as CSV: one line per requester, then the overall line."""
        path = with_query("/v1/me/statement", {"currency": currency, "format": "csv"})
        async with self.session.get(self.base_url + path, headers=self.auth()) as response:
            await raise_for_status(response)
            return await response.text()
