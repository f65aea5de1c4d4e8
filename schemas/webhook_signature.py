"""Standard Webhooks signatures (standardwebhooks.com): how a delivery is signed and checked.

The sender (consumers/) signs with `sign`; a receiver checks with `verify_webhook`. Both
sides import this one module, so it lives in schemas/, the layer everyone may import; it
does no I/O. A secret is `whsec_` then base64 of the key bytes. The signed content is
`{webhook-id}.{webhook-timestamp}.{body}`; the signature header is one or more
space-separated `v1,<base64 HMAC-SHA256>` (several while a secret is being rotated).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"
VERSION = "v1"
DEFAULT_TOLERANCE_S = 300


class WebhookVerificationError(ValueError):
    """The delivery is not proven to come from the sender: do not act on it."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_...` secret (the prefix is optional, as in the reference
    libraries). ValueError if the rest is not base64."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc


def _signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())


def sign(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The `webhook-signature` header value for one delivery: `v1,<base64>`.

    timestamp is in seconds since the epoch, as sent in `webhook-timestamp`; body is the
    exact bytes sent (a str is taken as its UTF-8 encoding)."""
    raw = body.encode() if isinstance(body, str) else body
    return f"{VERSION},{_signature(secret_key(secret), msg_id, timestamp, raw).decode()}"


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes | str, now: float,
                   tolerance_s: float = DEFAULT_TOLERANCE_S) -> None:  # fmt: skip
    """Check a delivery; WebhookVerificationError says why it is refused.

    headers: the request's headers, any case (webhook-id, webhook-timestamp,
    webhook-signature); body: the raw body as received, before any JSON parsing;
    now: the receiver's clock in seconds. A timestamp more than tolerance_s away from now
    is refused, so a captured delivery cannot be replayed later. Deduplicate on
    webhook-id: a retried delivery keeps its id."""
    found = {name.lower(): value for name, value in headers.items()}
    msg_id, stamp = found.get("webhook-id"), found.get("webhook-timestamp")
    signatures = found.get("webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or "
                                       "webhook-signature header")  # fmt: skip
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError(f"webhook-timestamp is not an integer: {stamp!r}") from None
    if abs(now - timestamp) > tolerance_s:
        raise WebhookVerificationError(f"webhook-timestamp {timestamp} is more than "
                                       f"{tolerance_s:g} s from now")  # fmt: skip
    raw = body.encode() if isinstance(body, str) else body
    expected = _signature(secret_key(secret), msg_id, timestamp, raw)
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        # compare_digest: the time taken says nothing about how much of a forgery matched
        if version == VERSION and hmac.compare_digest(value.encode(), expected):
            return
    raise WebhookVerificationError("no valid v1 signature")
