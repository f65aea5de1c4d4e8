"""Standard Webhooks signatures: the published test vector, and every way a forgery fails."""

from __future__ import annotations

import pytest

from schemas.webhook_signature import (
    WebhookVerificationError,
    secret_key,
    sign,
    verify_webhook,
)

# The test vector of the Standard Webhooks reference libraries: reproducing it is what says
# an existing receiver library (svix, standardwebhooks) accepts what piecework sends.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = '{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers(signature: str = EXPECTED, msg_id: str = MSG_ID, ts: int = TIMESTAMP) -> dict:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def test_the_published_vector_is_reproduced():
    assert sign(SECRET, MSG_ID, TIMESTAMP, BODY) == EXPECTED
    assert sign(SECRET, MSG_ID, TIMESTAMP, BODY.encode()) == EXPECTED
    assert sign(SECRET.removeprefix("whsec_"), MSG_ID, TIMESTAMP, BODY) == EXPECTED


def test_the_published_vector_verifies():
    verify_webhook(SECRET, headers(), BODY, now=TIMESTAMP)
    verify_webhook(SECRET, headers(), BODY.encode(), now=TIMESTAMP + 300)


def test_header_names_are_matched_in_any_case():
    mixed = {"Webhook-Id": MSG_ID, "WEBHOOK-TIMESTAMP": str(TIMESTAMP),
             "Webhook-Signature": EXPECTED}  # fmt: skip
    verify_webhook(SECRET, mixed, BODY, now=TIMESTAMP)


def test_one_valid_signature_among_several_is_enough():
    # during a secret rotation the sender signs with both secrets, space separated
    verify_webhook(SECRET, headers(f"v1,bm9wZQ== v1a,xyz {EXPECTED}"), BODY, now=TIMESTAMP)


@pytest.mark.parametrize("tamper", [
    {"body": BODY.replace("2432232314", "2432232315")},
    {"msg_id": "msg_other"},
    {"signature": "v1,bm9wZQ=="},
    {"signature": EXPECTED.replace("v1,", "v2,")},
    {"signature": EXPECTED[:-2]},
    {"secret": "whsec_" + "A" * 32},
])  # fmt: skip
def test_anything_changed_is_refused(tamper: dict):
    body = tamper.get("body", BODY)
    hdrs = headers(tamper.get("signature", EXPECTED), tamper.get("msg_id", MSG_ID))
    with pytest.raises(WebhookVerificationError, match="no valid v1 signature"):
        verify_webhook(tamper.get("secret", SECRET), hdrs, body, now=TIMESTAMP)


@pytest.mark.parametrize("now", [TIMESTAMP - 301, TIMESTAMP + 301])
def test_a_timestamp_outside_the_tolerance_is_refused(now: int):
    with pytest.raises(WebhookVerificationError, match="from now"):
        verify_webhook(SECRET, headers(), BODY, now=now)
    verify_webhook(SECRET, headers(), BODY, now=now, tolerance_s=400)


def test_a_replay_resigned_with_a_new_timestamp_needs_the_secret():
    # moving the timestamp forward (to pass the tolerance) breaks the signature
    with pytest.raises(WebhookVerificationError, match="no valid v1 signature"):
        verify_webhook(SECRET, headers(ts=TIMESTAMP + 3600), BODY, now=TIMESTAMP + 3600)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_refused(missing: str):
    hdrs = headers()
    del hdrs[missing]
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify_webhook(SECRET, hdrs, BODY, now=TIMESTAMP)


def test_a_timestamp_that_is_not_a_number_is_refused():
    hdrs = {**headers(), "webhook-timestamp": "yesterday"}
    with pytest.raises(WebhookVerificationError, match="not an integer"):
        verify_webhook(SECRET, hdrs, BODY, now=TIMESTAMP)


def test_a_round_trip_with_any_body():
    body = b'{"type":"task.approved","data":{"amount":300000}}\n'
    signature = sign(SECRET, "evt-1", 1_700_000_000, body)
    verify_webhook(SECRET, headers(signature, "evt-1", 1_700_000_000), body, now=1_700_000_000)


def test_a_secret_that_is_not_base64_is_a_value_error():
    with pytest.raises(ValueError, match="base64"):
        secret_key("whsec_not base64!")
