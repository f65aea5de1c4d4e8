"""What a delivery sends: the Standard Webhooks body shape and headers, signed so that a
receiver's check (schemas.webhook_signature.verify_webhook) accepts it and nothing else."""

from __future__ import annotations

import json

import pytest

from consumers.webhooks import payload
from consumers.webhooks.subscription import new_secret
from schemas.webhook_signature import WebhookVerificationError, secret_key, verify_webhook

EVENT = dict(event_id="acme:3f2a/0", event_type="SubmissionApproved", at=1_765_000_000_123,
             partition=3, position=(42 << 16) | 1,
             data={"task_id": "acme:b1.0:0", "worker_id": "ana", "note": "café ✓"})


def test_the_body_is_type_timestamp_and_the_event():
    document = json.loads(payload.body(**EVENT))
    assert document == {
        "type": "SubmissionApproved",
        "timestamp": "2025-12-06T05:46:40.123Z",
        "data": {"id": "acme:3f2a/0", "type": "SubmissionApproved", "at": 1_765_000_000_123,
                 "partition": 3, "position": (42 << 16) | 1, "data": EVENT["data"]},
    }
    # The same event always gives the same bytes: retries resend what was signed before.
    assert payload.body(**EVENT) == payload.body(**EVENT)
    assert "café ✓".encode() in payload.body(**EVENT)  # UTF-8, not \\u escapes


def test_headers_carry_the_event_id_and_a_signature_receivers_accept():
    secret = new_secret()
    body = payload.body(**EVENT)
    headers = payload.headers(secret, EVENT["event_id"], 1_765_000_001, body)
    assert headers["webhook-id"] == "acme:3f2a/0"
    assert headers["webhook-timestamp"] == "1765000001"
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"
    verify_webhook(secret, headers, body, now=1_765_000_010)


@pytest.mark.parametrize("tamper", ["body", "id", "timestamp", "secret"])
def test_any_change_breaks_the_signature(tamper: str):
    secret = new_secret()
    body = payload.body(**EVENT)
    headers = payload.headers(secret, EVENT["event_id"], 1_765_000_001, body)
    if tamper == "body":
        body = body.replace(b'"ana"', b'"eve"')
    elif tamper == "id":
        headers["webhook-id"] = "acme:3f2a/1"
    elif tamper == "timestamp":
        headers["webhook-timestamp"] = "1765000002"
    else:
        secret = new_secret()
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, headers, body, now=1_765_000_001)


def test_secrets_are_whsec_and_32_random_bytes():
    one, two = new_secret(), new_secret()
    assert one.startswith("whsec_") and one != two
    assert len(secret_key(one)) == 32
