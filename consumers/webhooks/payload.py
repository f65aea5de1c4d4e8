"""What one delivery sends: the body and the Standard Webhooks headers (pure).

Body: `{"type", "timestamp", "data"}` (the Standard Webhooks payload shape), `timestamp`
the event's instant in ISO 8601 and `data` the event as the feed holds it. The body of an
event is the same at every attempt; only webhook-timestamp (the attempt's instant, in
seconds, what a receiver checks against replays) and so the signature change.
webhook-id is the event id: a receiver de-duplicates retried deliveries by it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from schemas.webhook_signature import sign

USER_AGENT = "piecework-webhooks/1"


def iso_instant(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds"
                                                                  ).replace("+00:00", "Z")


def body(event_id: str, event_type: str, at: int, partition: int, position: int,
         data: dict[str, Any]) -> bytes:  # fmt: skip
    document = {
        "type": event_type,
        "timestamp": iso_instant(at),
        "data": {"id": event_id, "type": event_type, "at": at, "partition": partition,
                 "position": position, "data": data},
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def headers(secret: str, event_id: str, sent_at_s: int, payload: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(sent_at_s),
        "webhook-signature": sign(secret, event_id, sent_at_s, payload),
    }
