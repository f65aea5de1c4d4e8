"""Python client for the piecework API (asyncio). Requesters, workers and operators.

    async with Client("http://127.0.0.1:8080", token) as requester:
        await requester.deposit(50_000_000, "EUR")
        posted = await requester.post_batch("b1", [task_spec, ...])

Every command-sending call carries an Idempotency-Key, reused on retry, so a request that
timed out can be sent again without doing the work twice.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def _segment(value: str) -> str:
    """A path segment as typed: '/' or '?' in an id must not reach another route."""
    return quote(value, safe="")


def review_items(rows: Any) -> list[dict[str, str]]:
    """Review items as POST /v1/reviews takes them, from dicts such as a CSV's rows:
    submission_id and decision (approve or reject, any case, trimmed), reason (may be
    missing for approvals). ValueError names the first row that is not one."""
    items = []
    for n, row in enumerate(rows, 1):
        sid, decision = row.get("submission_id"), row.get("decision")
        if not isinstance(sid, str) or not sid.strip() or not isinstance(decision, str):
            raise ValueError(f"row {n}: needs a submission_id and a decision")
        items.append({"submission_id": sid.strip(), "decision": decision.strip().lower(),
                      "reason": row.get("reason") or ""})  # fmt: skip
    return items


RETRIED = frozenset({429, 503})  # the server says: not now; the same request may succeed
MAX_WAIT_S = 30.0


def backoff(attempt: int, retry_after: str | None) -> float:
    """Seconds before the next try: the server's Retry-After (seconds) when it sent one,
    else 0.2 s doubled per attempt; scaled by a random 0.5-1.5 so that clients told to
    come back together do not all come back at once."""
    try:
        base = float(retry_after) if retry_after is not None else 0.2 * 2**attempt
    except ValueError:  # an HTTP date, or garbage: fall back to our own schedule
        base = 0.2 * 2**attempt
    return min(MAX_WAIT_S, max(0.0, base)) * random.uniform(0.5, 1.5)


class Client:
    def __init__(
        self, base_url: str, token: str | None = None, *, retries: int = 3, timeout: float = 30
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.retries = retries
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        connector = aiohttp.TCPConnector(limit=256)
        self._session = aiohttp.ClientSession(timeout=self._timeout, connector=connector)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        """One API call. 429, 503 and connection errors are tried again with the same
        Idempotency-Key, after the server's Retry-After or an exponential backoff, jittered."""
        assert self._session is not None, "use `async with Client(...)`"
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in range(self.retries + 1):
            try:
                async with self._session.request(
                    method, self.base_url + path, json=body, headers=headers
                ) as response:
                    if response.status == 204:
                        return None
                    data = await response.json(content_type=None)
                    if response.status in RETRIED and attempt < self.retries:
                        await asyncio.sleep(backoff(attempt, response.headers.get("Retry-After")))
                        continue
                    if response.status >= 400:
                        code, message = data.get("code", "?"), data.get("message", "")
                        raise ApiError(response.status, code, message)
                    return data
            except (TimeoutError, aiohttp.ClientConnectionError):
                if attempt >= self.retries:
                    raise
                await asyncio.sleep(backoff(attempt, None))
        raise AssertionError("unreachable")

    # --- operators
    async def create_actor(self, actor_id: str, role: str, qualifications: list[str] = ()) -> str:
        body = {"actor_id": actor_id, "role": role, "qualifications": list(qualifications)}
        return (await self.call("POST", "/v1/actors", body))["token"]

    async def payout(self, worker_id: str, amount: int, currency: str) -> Any:
        body = {"worker_id": worker_id, "amount": amount, "currency": currency}
        return await self.call("POST", "/v1/payouts", body)

    async def issue_token(self, actor_id: str, *, revoke_existing: bool = False) -> Any:
        """Another token for an actor: {actor_id, token, token_id, revoked: [token ids]}.

        revoke_existing=True rotates: every other token of the actor stops working.
        """
        body = {"revoke_existing": revoke_existing}
        return await self.call("POST", f"/v1/actors/{_segment(actor_id)}/tokens", body)

    async def list_tokens(self, actor_id: str) -> list[str]:
        """The ids of an actor's live tokens (never the tokens themselves)."""
        found = await self.call("GET", f"/v1/actors/{_segment(actor_id)}/tokens")
        return [entry["token_id"] for entry in found["tokens"]]

    async def revoke_token(self, actor_id: str, token_id: str) -> list[str]:
        """Revoke one token by its id; returns the ids revoked (ApiError 404 if unknown)."""
        path = f"/v1/actors/{_segment(actor_id)}/tokens/{_segment(token_id)}"
        return (await self.call("DELETE", path))["revoked"]

    async def revoke_tokens(self, actor_id: str) -> list[str]:
        """Revoke every token of an actor; returns the ids revoked."""
        return (await self.call("DELETE", f"/v1/actors/{_segment(actor_id)}/tokens"))["revoked"]

    # --- requesters
    async def deposit(self, amount: int, currency: str) -> Any:
        return await self.call("POST", "/v1/deposits", {"amount": amount, "currency": currency})

    async def post_batch(self, batch_id: str, tasks: list[dict[str, Any]]) -> Any:
        return await self.call("POST", "/v1/batches", {"batch_id": batch_id, "tasks": tasks})

    async def approve(self, submission_id: str) -> Any:
        return await self.call("POST", f"/v1/submissions/{submission_id}/approve")

    async def reject(self, submission_id: str, reason: str) -> Any:
        body = {"reason": reason}
        return await self.call("POST", f"/v1/submissions/{submission_id}/reject", body)

    async def review(self, items: list[dict[str, Any]]) -> Any:
        """Up to 1,000 reviews in one request ({submission_id, decision, reason}): the
        answer holds one outcome per item, in order, and the approved/rejected/refused
        counts. A refused item is answered, never raised; see review_items for rows."""
        return await self.call("POST", "/v1/reviews", {"items": review_items(items)})

    async def overturn(self, submission_id: str) -> Any:
        return await self.call("POST", f"/v1/submissions/{submission_id}/overturn")

    async def bonus(self, task_id: str, worker_id: str, amount: int, reason: str) -> Any:
        body = {"worker_id": worker_id, "amount": amount, "reason": reason}
        return await self.call("POST", f"/v1/tasks/{task_id}/bonus", body)

    async def cancel(self, task_id: str) -> Any:
        return await self.call("POST", f"/v1/tasks/{task_id}/cancel")

    # --- requesters: listings (cursor-paged; each yields one item at a time)
    async def _pages(self, path: str, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Every item of a cursor-paged listing, fetching one page at a time."""
        query = {k: v for k, v in params.items() if v is not None}
        while True:
            found = await self.call("GET", f"{path}?{urlencode(query)}" if query else path)
            for item in found["items"]:
                yield item
            if found.get("next_cursor") is None:
                return
            query["cursor"] = found["next_cursor"]

    def batches(self, *, limit: int = 100,
                requester_id: str | None = None) -> AsyncIterator[dict[str, Any]]:  # fmt: skip
        """The caller's batches, newest first (operators name the requester)."""
        return self._pages("/v1/batches", {"limit": limit, "requester_id": requester_id})

    async def batch(self, batch_id: str, *, requester_id: str | None = None) -> Any:
        """A batch's progress: tasks per status, counters, escrow and spend."""
        query = f"?{urlencode({'requester_id': requester_id})}" if requester_id else ""
        return await self.call("GET", f"/v1/batches/{_segment(batch_id)}{query}")

    def batch_tasks(self, batch_id: str, status: str | None = None, *, limit: int = 100,
                    requester_id: str | None = None) -> AsyncIterator[dict[str, Any]]:  # fmt: skip
        """A batch's tasks in posting order, all or of one status."""
        return self._pages(f"/v1/batches/{_segment(batch_id)}/tasks",
                           {"status": status, "limit": limit, "requester_id": requester_id})

    def review_queue(self, status: str = "submitted", batch_id: str | None = None, *,
                     limit: int = 100,
                     requester_id: str | None = None) -> AsyncIterator[dict[str, Any]]:  # fmt: skip
        """Submissions by status, oldest first: across batches (`submitted` only) or of one."""
        return self._pages("/v1/submissions", {"status": status, "batch_id": batch_id,
                                               "limit": limit, "requester_id": requester_id})

    async def results(self, batch_id: str, format: str = "jsonl", *,
                      requester_id: str | None = None) -> AsyncIterator[bytes]:  # fmt: skip
        """The batch's results export, streamed in chunks of bytes: JSON lines, or CSV
        with a header row. ApiError before the first chunk if the batch is not readable."""
        assert self._session is not None, "use `async with Client(...)`"
        query = {"format": format, **({"requester_id": requester_id} if requester_id else {})}
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        url = f"{self.base_url}/v1/batches/{_segment(batch_id)}/results?{urlencode(query)}"
        timeout = aiohttp.ClientTimeout(total=None, sock_read=self._timeout.total)
        async with self._session.get(url, headers=headers, timeout=timeout) as response:
            if response.status >= 400:
                data = await response.json(content_type=None)
                raise ApiError(response.status, data.get("code", "?"), data.get("message", ""))
            async for chunk in response.content.iter_chunked(64 * 1024):
                yield chunk

    # --- workers
    async def claim_next(self) -> Any:
        """The claim (with task_id, claim_id, lease_expires_at), or None when nothing fits."""
        return await self.call("POST", "/v1/claims")

    async def claim(self, task_id: str) -> Any:
        return await self.call("POST", f"/v1/tasks/{task_id}/claim")

    async def submit(self, claim_id: str, answer: Any) -> Any:
        return await self.call("POST", f"/v1/claims/{claim_id}/submit", {"answer": answer})

    async def release(self, claim_id: str) -> Any:
        return await self.call("POST", f"/v1/claims/{claim_id}/release")

    async def dispute(self, submission_id: str, reason: str) -> Any:
        body = {"reason": reason}
        return await self.call("POST", f"/v1/submissions/{submission_id}/dispute", body)

    # --- reads
    async def get(self, path: str) -> Any:
        return await self.call("GET", path)
