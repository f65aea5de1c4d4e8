"""Webhook subscriptions (/v1/webhooks): where piecework POSTs the caller's events.

A delivery is signed the Standard Webhooks way; check one with
schemas.webhook_signature.verify_webhook (also importable from broker.client).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from broker.client_http import Transport, segment, with_query

Hook = dict[str, Any]


def _path(webhook_id: str, action: str = "", actor_id: str | None = None) -> str:
    return with_query(f"/v1/webhooks/{segment(webhook_id)}{action}", {"actor_id": actor_id})


class Webhooks(Transport):
    async def create_webhook(self, url: str, event_types: Iterable[str] = (),
                             description: str | None = None, *,
                             idempotency_key: str | None = None) -> Hook:  # fmt: skip
        """Subscribe `url` to these event types (none: every type). The answer holds the
        signing `secret` (whsec_...): it is shown this once, keep it."""
        body: dict[str, Any] = {"url": url, "event_types": list(event_types)}
        if description is not None:
            body["description"] = description
        return await self.command("POST", "/v1/webhooks", body, idempotency_key)

    async def webhooks(self, *, actor_id: str | None = None) -> list[Hook]:
        """The caller's webhooks, without their secrets (operators name the actor)."""
        path = with_query("/v1/webhooks", {"actor_id": actor_id})
        return (await self.call("GET", path))["items"]

    async def webhook(self, webhook_id: str, *, actor_id: str | None = None) -> Hook:
        """One webhook: url, event_types, status (enabled or disabled), failures."""
        return await self.call("GET", _path(webhook_id, actor_id=actor_id))

    async def delete_webhook(self, webhook_id: str, *,
                             idempotency_key: str | None = None) -> None:  # fmt: skip
        await self.command("DELETE", _path(webhook_id), None, idempotency_key)

    async def enable_webhook(self, webhook_id: str, *,
                             idempotency_key: str | None = None) -> Hook:  # fmt: skip
        """Enable again a webhook disabled after failing deliveries."""
        return await self.command("POST", _path(webhook_id, "/enable"), None, idempotency_key)

    def webhook_deliveries(self, webhook_id: str, *, limit: int = 100,
                           actor_id: str | None = None) -> AsyncIterator[Hook]:  # fmt: skip
        """Delivery attempts, newest first, page by page: event, attempt, status
        (delivered or failed), http_status, error, latency_ms."""
        return self.pages(_path(webhook_id, "/deliveries"), {"limit": limit, "actor_id": actor_id})
