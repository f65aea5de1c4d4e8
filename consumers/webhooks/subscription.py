"""A webhook subscription and its delivery records, as stored in Redis hashes of strings.

Subscriptions are configuration, not market facts: the API writes them straight to Redis
(`pw:webhooks:`, never a view's prefix), so their secrets stay out of the log and of
what the audit reads. See docs/DESIGN.md, "Webhooks".
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from consumers.webhooks.schedule import Progress
from schemas.webhook_signature import SECRET_PREFIX

SECRET_BYTES = 32
ID_PREFIX = "wh_"
DeliveryStatus = Literal["delivered", "failed"]


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes (Standard Webhooks: 24 to 64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_id() -> str:
    return ID_PREFIX + secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class Webhook:
    webhook_id: str
    owner: str
    url: str
    event_types: tuple[str, ...]  # empty: every type
    description: str | None
    secret: str
    created_at: int  # epoch ms
    progress: Progress
    rev: int = 0  # bumped by every write: the sender's writes are conditional on it

    @property
    def types(self) -> frozenset[str] | None:
        return frozenset(self.event_types) or None

    def public(self) -> dict[str, Any]:
        """What its owner sees (the secret only once, at creation)."""
        p = self.progress
        return {"webhook_id": self.webhook_id, "url": self.url,
                "event_types": list(self.event_types), "description": self.description,
                "status": p.status, "created_at": self.created_at, "failures": p.failures,
                "last_error": p.last_error}  # fmt: skip


def progress_fields(p: Progress) -> dict[str, str]:
    return {"cursor": p.cursor, "status": p.status, "failures": str(p.failures),
            "attempts": str(p.attempts), "next_at": str(p.next_at),
            "last_error": p.last_error or ""}  # fmt: skip


def to_hash(hook: Webhook) -> dict[str, str]:
    return {"owner": hook.owner, "url": hook.url, "event_types": json.dumps(hook.event_types),
            "description": hook.description or "", "secret": hook.secret,
            "created_at": str(hook.created_at), "rev": str(hook.rev),
            **progress_fields(hook.progress)}  # fmt: skip


def from_hash(webhook_id: str, h: dict[str, str]) -> Webhook:
    progress = Progress(h["cursor"], "disabled" if h["status"] == "disabled" else "enabled",
                        int(h["failures"]), int(h["attempts"]), int(h["next_at"]),
                        h["last_error"] or None)  # fmt: skip
    return Webhook(webhook_id, h["owner"], h["url"], tuple(json.loads(h["event_types"])),
                   h["description"] or None, h["secret"], int(h["created_at"]), progress,
                   int(h["rev"]))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt at one event. latency_ms: the HTTP attempt's own duration."""

    event_id: str
    event_type: str
    attempt: int
    status: DeliveryStatus
    http_status: int | None
    error: str | None
    at: int  # epoch ms the attempt ended
    latency_ms: int

    def to_json(self) -> str:
        return json.dumps([self.event_id, self.event_type, self.attempt, self.status,
                           self.http_status, self.error, self.at, self.latency_ms],
                          separators=(",", ":"), ensure_ascii=False)  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> Delivery:
        return cls(*json.loads(text))

    def public(self, delivery_id: str) -> dict[str, Any]:
        return {"delivery_id": delivery_id, "event_id": self.event_id,
                "event_type": self.event_type, "attempt": self.attempt, "status": self.status,
                "http_status": self.http_status, "error": self.error, "at": self.at,
                "latency_ms": self.latency_ms}  # fmt: skip
