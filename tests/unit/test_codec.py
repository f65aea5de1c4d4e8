"""msgpack codec: every event and command round-trips; bad records raise SchemaError codes."""

import msgpack
import pytest
from msgspec.structs import replace

from schemas import commands as c
from schemas import events as ev
from schemas.catalogue import COMMANDS, EVENTS, Record
from schemas.codec import (
    command_to_plain,
    decode_command,
    decode_event,
    decode_reply,
    encode_command,
    encode_event,
    encode_reply,
    event_to_plain,
)
from schemas.envelope import CommandEnvelope, EventEnvelope, Reply
from schemas.errors import SchemaError
from schemas.upcasters import UPCASTERS
from tests.unit import domain_kit as k

T, CLAIM = k.TASK, k.claim_id(1)
EVENT_SAMPLES = [
    k.funds(),
    ev.BatchPosted(k.R, "b1", 1, 120_000, "EUR"),
    k.task_posted(qualifications=("fr", "audio"), payload=None, payload_ref="s3://x"),
    k.claimed(),
    ev.ClaimReleased(T, CLAIM, k.W, k.T0, 0, "EUR"),
    ev.ClaimExpired(T, CLAIM, k.W, k.T0, 60_000, "EUR"),
    k.submitted(),
    k.approved(),
    k.rejected(),
    ev.BonusGranted(T, k.W, k.R, 1_000, 200, "EUR", "merci"),
    k.disputed(),
    k.overturned(),
    k.cancelled(60_000),
    k.expired(0),
    ev.WorkerCredited(k.W, "cmd-1/0", k.R, T, 300, "EUR"),
    ev.PayoutIssued(k.W, "p1", 300, "EUR"),
]
SPEC = c.TaskSpec("translation", 300, "EUR", 600, qualifications=("ar",), payload={"ar": "…"})
COMMAND_SAMPLES = [
    c.DepositFunds(k.R, 1, "EUR"),
    SPEC,
    c.PostTasks(k.R, "b1", (SPEC, replace(SPEC, assignments=10))),
    c.ClaimTask(T, k.W, ("ar",)),
    c.ReleaseClaim(T, CLAIM, k.W),
    c.SubmitWork(T, CLAIM, k.W, {"en": "..."}),
    c.ApproveSubmission(T, CLAIM, k.R),
    c.RejectSubmission(T, CLAIM, k.R, "no"),
    c.ReviewItem(CLAIM, "reject", "no"),
    c.ReviewSubmissions(
        k.R, (c.ReviewItem(CLAIM, "approve"), c.ReviewItem(f"{T}:c2", "reject", "no"))
    ),
    c.ClaimSuite(k.R, k.W, (T, f"{k.R}:b1:1"), 2, ("fr",)),
    c.SuiteAnswer(CLAIM, {"label": "cat"}),
    c.SubmitSuite(k.R, k.W, (c.SuiteAnswer(CLAIM, {"label": "cat"}),)),
    c.ReleaseSuite(k.R, k.W, (CLAIM, f"{T}:c2")),
    c.GrantBonus(T, k.W, k.R, 5, "yes"),
    c.DisputeRejection(T, CLAIM, k.W, "why"),
    c.OverturnRejection(T, CLAIM),
    c.CancelTask(T, k.R),
    c.ExpireTask(T),
    c.ExpireClaim(T, CLAIM),
    c.AutoApprove(T, CLAIM),
    c.CreditWorker(k.W, "cmd-1/0", k.R, T, 300, "EUR"),
    c.IssuePayout(k.W, "p1", 300, "EUR"),
]


def wrap(event):
    return EventEnvelope("cmd-1/0", "task:x", 3, k.T0, "cmd-1", "corr", "cmd-1", "acme", event)


def order(command):
    return CommandEnvelope("cmd-1", "acme", "requester", "corr", command, "cause")


def test_samples_cover_the_catalogues():
    assert {type(e).__name__ for e in EVENT_SAMPLES} == set(EVENTS.by_name)
    assert {type(x).__name__ for x in COMMAND_SAMPLES} == set(COMMANDS.by_name)


@pytest.mark.parametrize("event", EVENT_SAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_round_trips(event):
    assert decode_event(encode_event(wrap(event))) == wrap(event)


@pytest.mark.parametrize("command", COMMAND_SAMPLES, ids=lambda x: type(x).__name__)
def test_every_command_round_trips(command):
    assert decode_command(encode_command(order(command))) == order(command)


def test_reply_round_trips():
    reply = Reply("cmd-1", True, event_ids=("cmd-1/0",), result={"claim_id": CLAIM}, decided_at=5)
    assert decode_reply(encode_reply(reply)) == reply


def code_of(raw, decode=decode_event):
    with pytest.raises(SchemaError) as caught:
        decode(raw)
    return caught.value.code


def tampered(change, event=None):
    plain = event_to_plain(wrap(event or k.funds()))
    change(plain)
    return msgpack.packb(plain, use_bin_type=True)


def test_garbage_is_undecodable():
    assert code_of(b"\xc1\xff garbage") == "undecodable"
    assert code_of(msgpack.packb([1, 2])) == "undecodable"
    assert code_of(b"") == "undecodable"


def test_unknown_type():
    assert code_of(tampered(lambda p: p.update(t="FundsStolen"))) == "unknown_type"


def test_unknown_versions():
    assert code_of(tampered(lambda p: p.update(v=99))) == "unknown_version"
    assert code_of(tampered(lambda p: p.update(v=0))) == "unknown_version"  # no upcaster


def test_missing_and_extra_fields():
    assert code_of(tampered(lambda p: p["d"].pop("currency"))) == "missing_field"
    assert code_of(tampered(lambda p: p["d"].update(bonus=1))) == "unknown_field"


def test_wrong_types_and_rules():
    assert code_of(tampered(lambda p: p["d"].update(amount="5"))) == "invalid_record"
    assert code_of(tampered(lambda p: p["d"].update(amount=True))) == "invalid_record"
    assert code_of(tampered(lambda p: p["d"].update(amount=-5))) == "invalid_amount"
    assert code_of(tampered(lambda p: p.update(seq="3"))) == "bad_envelope"


def test_bad_command_envelopes():
    plain = command_to_plain(order(c.ExpireTask(T)))
    for change in ({"role": "king"}, {"id": ""}, {"id": "x" * 201}):
        raw = msgpack.packb({**plain, **change})
        assert code_of(raw, decode_command) == "bad_envelope"


class Greeted(Record):
    name: str
    greeting: str


def test_an_upcaster_lifts_a_v1_record(monkeypatch):
    monkeypatch.setattr(Greeted, "TYPE", "Greeted", raising=False)
    monkeypatch.setattr(Greeted, "VERSION", 2, raising=False)
    monkeypatch.setitem(EVENTS.by_name, "Greeted", Greeted)
    monkeypatch.setitem(UPCASTERS, ("Greeted", 1), lambda d: {**d, "greeting": "bonjour"})

    def as_v1(plain):
        plain["v"] = 1
        del plain["d"]["greeting"]

    decoded = decode_event(tampered(as_v1, Greeted("ana", "ignored")))
    assert decoded.event == Greeted("ana", "bonjour")
