"""Python client for the piecework API (asyncio). Requesters, workers and operators.

    async with Client("http://127.0.0.1:8080", token) as requester:
        await requester.deposit(50_000_000, "EUR")
        posted = await requester.post_batch("b1", [task_spec, ...])

Every command takes an optional idempotency_key: the same key (and the same request) sent
again, from any process, gets the first reply and does the work once. Without one, each
call gets a random key, reused only by its own retries. For scripts and notebooks without
asyncio, broker.client_sync.SyncClient offers the same methods synchronously.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import aiohttp

from broker.client_events import EventFeed
from broker.client_groups import WorkerViews
from broker.client_http import (
    MAX_WAIT_S,
    ApiError,
    backoff,
    raise_for_status,
    segment,
    with_query,
)
from broker.client_webhooks import Webhooks
from schemas.webhook_signature import WebhookVerificationError, verify_webhook

# The client's names, wherever they are defined: webhook receivers check deliveries with
# verify_webhook without knowing it lives in schemas/, which the sender shares.
__all__ = [
    "MAX_WAIT_S", "ApiError", "Client", "WebhookVerificationError", "backoff", "review_items",
    "verify_webhook",
]  # fmt: skip

Key = str | None  # an Idempotency-Key: 1-100 printable ASCII characters


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


class Client(EventFeed, Webhooks, WorkerViews):
    """The whole API: the commands and listings below, events (broker.client_events),
    webhooks (broker.client_webhooks), task groups, scorecards and statements
    (broker.client_groups), and the transport (broker.client_http)."""

    # --- probes (no token needed)
    async def ready(self) -> dict[str, Any]:
        """GET /readyz once, not retried: {ready, not_ready, checks}, whether 200 or 503."""
        async with self.session.get(self.base_url + "/readyz") as response:
            return await response.json(content_type=None)

    async def checkpoint(self) -> dict[str, Any]:
        """GET /v1/checkpoint (no token needed): the latest signed checkpoint of the log,
        exactly as signed (docs/AUDIT.md); check it with `piecework verify --checkpoint`."""
        return await self.call("GET", "/v1/checkpoint")

    # --- operators
    async def create_actor(self, actor_id: str, role: str, qualifications: list[str] = (), *,
                           idempotency_key: Key = None) -> str:  # fmt: skip
        body = {"actor_id": actor_id, "role": role, "qualifications": list(qualifications)}
        return (await self.command("POST", "/v1/actors", body, idempotency_key))["token"]

    async def payout(self, worker_id: str, amount: int, currency: str, *,
                     idempotency_key: Key = None) -> Any:  # fmt: skip
        body = {"worker_id": worker_id, "amount": amount, "currency": currency}
        return await self.command("POST", "/v1/payouts", body, idempotency_key)

    async def issue_token(self, actor_id: str, *, revoke_existing: bool = False,
                          idempotency_key: Key = None) -> Any:  # fmt: skip
        """Another token for an actor: {actor_id, token, token_id, revoked: [token ids]}.

        revoke_existing=True rotates: every other token of the actor stops working.
        """
        body = {"revoke_existing": revoke_existing}
        path = f"/v1/actors/{segment(actor_id)}/tokens"
        return await self.command("POST", path, body, idempotency_key)

    async def list_tokens(self, actor_id: str) -> list[str]:
        """The ids of an actor's live tokens (never the tokens themselves)."""
        found = await self.call("GET", f"/v1/actors/{segment(actor_id)}/tokens")
        return [entry["token_id"] for entry in found["tokens"]]

    async def revoke_token(self, actor_id: str, token_id: str, *,
                           idempotency_key: Key = None) -> list[str]:  # fmt: skip
        """Revoke one token by its id; returns the ids revoked (ApiError 404 if unknown)."""
        path = f"/v1/actors/{segment(actor_id)}/tokens/{segment(token_id)}"
        return (await self.command("DELETE", path, None, idempotency_key))["revoked"]

    async def revoke_tokens(self, actor_id: str, *, idempotency_key: Key = None) -> list[str]:
        """Revoke every token of an actor; returns the ids revoked."""
        path = f"/v1/actors/{segment(actor_id)}/tokens"
        return (await self.command("DELETE", path, None, idempotency_key))["revoked"]

    # --- requesters
    async def deposit(self, amount: int, currency: str, *, idempotency_key: Key = None) -> Any:
        """Add funds, in micro-units (50_000_000 is 50.00)."""
        body = {"amount": amount, "currency": currency}
        return await self.command("POST", "/v1/deposits", body, idempotency_key)

    async def post_batch(self, batch_id: str, tasks: list[dict[str, Any]], *,
                         idempotency_key: Key = None) -> Any:  # fmt: skip
        """Post tasks; the batch id is already the batch's own idempotency key."""
        body = {"batch_id": batch_id, "tasks": tasks}
        return await self.command("POST", "/v1/batches", body, idempotency_key)

    async def approve(self, submission_id: str, *, idempotency_key: Key = None) -> Any:
        path = f"/v1/submissions/{submission_id}/approve"
        return await self.command("POST", path, None, idempotency_key)

    async def reject(self, submission_id: str, reason: str, *,
                     idempotency_key: Key = None) -> Any:  # fmt: skip
        path = f"/v1/submissions/{submission_id}/reject"
        return await self.command("POST", path, {"reason": reason}, idempotency_key)

    async def review(self, items: list[dict[str, Any]], *, idempotency_key: Key = None) -> Any:
        """Up to 1,000 reviews in one request ({submission_id, decision, reason}): the
        answer holds one outcome per item, in order, and the approved/rejected/refused
        counts. A refused item is answered, never raised; see review_items for rows."""
        body = {"items": review_items(items)}
        return await self.command("POST", "/v1/reviews", body, idempotency_key)

    async def overturn(self, submission_id: str, *, idempotency_key: Key = None) -> Any:
        path = f"/v1/submissions/{submission_id}/overturn"
        return await self.command("POST", path, None, idempotency_key)

    async def bonus(self, task_id: str, worker_id: str, amount: int, reason: str, *,
                    idempotency_key: Key = None) -> Any:  # fmt: skip
        body = {"worker_id": worker_id, "amount": amount, "reason": reason}
        return await self.command("POST", f"/v1/tasks/{task_id}/bonus", body, idempotency_key)

    async def cancel(self, task_id: str, *, idempotency_key: Key = None) -> Any:
        return await self.command("POST", f"/v1/tasks/{task_id}/cancel", None, idempotency_key)

    # --- requesters: listings (cursor-paged; each yields one item at a time)
    def batches(self, *, limit: int = 100,
                requester_id: str | None = None) -> AsyncIterator[dict[str, Any]]:  # fmt: skip
        """The caller's batches, newest first (operators name the requester)."""
        return self.pages("/v1/batches", {"limit": limit, "requester_id": requester_id})

    async def batch(self, batch_id: str, *, requester_id: str | None = None) -> Any:
        """A batch's progress: tasks per status, counters, escrow and spend."""
        path = with_query(f"/v1/batches/{segment(batch_id)}", {"requester_id": requester_id})
        return await self.call("GET", path)

    def batch_tasks(self, batch_id: str, status: str | None = None, *, limit: int = 100,
                    requester_id: str | None = None) -> AsyncIterator[dict[str, Any]]:  # fmt: skip
        """A batch's tasks in posting order, all or of one status."""
        return self.pages(f"/v1/batches/{segment(batch_id)}/tasks",
                          {"status": status, "limit": limit, "requester_id": requester_id})

    def review_queue(self, status: str = "submitted", batch_id: str | None = None, *,
                     limit: int = 100,
                     requester_id: str | None = None) -> AsyncIterator[dict[str, Any]]:  # fmt: skip
        """Submissions by status, oldest first: across batches (`submitted` only) or of one."""
        return self.pages("/v1/submissions", {"status": status, "batch_id": batch_id,
                                              "limit": limit, "requester_id": requester_id})

    async def results(self, batch_id: str, format: str = "jsonl", *,
                      requester_id: str | None = None) -> AsyncIterator[bytes]:  # fmt: skip
        """The batch's results export, streamed in chunks of bytes: JSON lines, or CSV
        with a header row. ApiError before the first chunk if the batch is not readable."""
        query = {"format": format, **({"requester_id": requester_id} if requester_id else {})}
        url = f"{self.base_url}/v1/batches/{segment(batch_id)}/results?{urlencode(query)}"
        timeout = aiohttp.ClientTimeout(total=None, sock_read=self._timeout.total)
        async with self.session.get(url, headers=self.auth(), timeout=timeout) as response:
            await raise_for_status(response)
            async for chunk in response.content.iter_chunked(64 * 1024):
                yield chunk

    # --- workers
    async def claim_next(self, *, idempotency_key: Key = None) -> Any:
        """The claim (with task_id, claim_id, lease_expires_at), or None when nothing fits."""
        return await self.command("POST", "/v1/claims", None, idempotency_key)

    async def claim_suite(self, count: int, group: str | None = None, *,
                          idempotency_key: Key = None) -> list[dict[str, Any]]:  # fmt: skip
        """Up to `count` (1-50) claims on distinct tasks, each with its own lease, from one
        task group if `group` names one: the claims (task_id, claim_id, lease_expires_at,
        reward, currency), empty when nothing fits now."""
        body: dict[str, Any] = {"count": count, **({"group": group} if group else {})}
        found = await self.command("POST", "/v1/claims", body, idempotency_key)
        return found["claims"] if found else []

    async def submit_many(self, items: list[dict[str, Any]], *,
                          idempotency_key: Key = None) -> Any:  # fmt: skip
        """Up to 50 submissions ({claim_id, answer}) in one request: one outcome per item,
        in order (ok, code, message, submission_id), and the submitted/refused counts."""
        body = {"items": [{"claim_id": i["claim_id"], "answer": i["answer"]} for i in items]}
        return await self.command("POST", "/v1/submissions", body, idempotency_key)

    async def release_many(self, claim_ids: list[str], *, idempotency_key: Key = None) -> Any:
        """Give back up to 50 claims (what is left of a suite): one outcome per claim."""
        body = {"claim_ids": list(claim_ids)}
        return await self.command("POST", "/v1/claims/release", body, idempotency_key)

    async def claim(self, task_id: str, *, idempotency_key: Key = None) -> Any:
        return await self.command("POST", f"/v1/tasks/{task_id}/claim", None, idempotency_key)

    async def submit(self, claim_id: str, answer: Any, *, idempotency_key: Key = None) -> Any:
        path = f"/v1/claims/{claim_id}/submit"
        return await self.command("POST", path, {"answer": answer}, idempotency_key)

    async def release(self, claim_id: str, *, idempotency_key: Key = None) -> Any:
        path = f"/v1/claims/{claim_id}/release"
        return await self.command("POST", path, None, idempotency_key)

    async def dispute(self, submission_id: str, reason: str, *,
                      idempotency_key: Key = None) -> Any:  # fmt: skip
        path = f"/v1/submissions/{submission_id}/dispute"
        return await self.command("POST", path, {"reason": reason}, idempotency_key)

    # --- reads
    async def get(self, path: str) -> Any:
        return await self.call("GET", path)
