"""Invariant 3 in the audit: paid exactly once, never when rejected, in flight tolerated."""

from __future__ import annotations

from audit.checks import credits, run
from schemas import events as ev
from tests.unit.audit_kit import T0, appended, first, good_log, replaced, with_event

LATE = T0 + 3_600_000  # an hour after the lifecycle: beyond the default grace


def test_every_paying_event_of_the_lifecycle_is_credited_once() -> None:
    log = good_log()
    check = run(credits.Credits(), log)
    assert check.violations() == []
    assert check.pending() == [] and check.uncredited_amounts() == {}


def test_a_double_credit_is_a_violation() -> None:
    log = good_log()
    credit = first(log, ev.WorkerCredited)
    found = credits.check(appended(log, credit.event, "credit-again/0"))
    assert found == [f"{credit.event.source_event_id} credited 2 times"]


def test_a_credit_without_its_source_is_a_violation() -> None:
    log = good_log()
    forged = ev.WorkerCredited("walt", "nothing/0", "acme", "acme:b1:0", 50_000, "EUR")
    (found,) = credits.check(appended(log, forged, "forged/0"))
    assert "without a source event 'nothing/0'" in found


def test_a_credit_of_another_amount_than_owed_is_a_violation() -> None:
    log = good_log()
    credit = first(log, ev.WorkerCredited)
    bad = replaced(log, credit, with_event(credit, amount=credit.event.amount + 1))
    (found,) = credits.check(bad)
    assert "but was credited 50001 EUR to wanda" in found


def test_an_uncredited_approval_is_pending_while_young_and_lost_when_old() -> None:
    log = good_log(deliver=False)
    young = run(credits.Credits(), log)
    assert young.violations() == []
    assert {o.worker_id for o in young.pending()} == {"wanda", "wendy"}
    assert young.uncredited_amounts() == {"EUR": 50_000 + 5_000 + 50_000}
    old = run(credits.Credits(end_ms=LATE), log)
    assert old.pending() == [] and len(old.violations()) == 3
    assert "not credited" in old.violations()[0]


def test_strict_makes_an_in_flight_credit_a_violation() -> None:
    check = run(credits.Credits(strict=True), good_log(deliver=False))
    assert check.pending() == [] and len(check.violations()) == 3


def test_a_rejected_submission_approved_without_overturn_is_a_violation() -> None:
    log = good_log()
    rejected = first(log, ev.SubmissionRejected).event
    pay = ev.SubmissionApproved(rejected.task_id, rejected.submission_id, rejected.worker_id,
                                "acme", 50_000, 10_000, "EUR", T0, False)  # fmt: skip
    found = credits.check(appended(log, pay, "pay-rejected/0"))
    assert any("rejected, then paid without an overturn" in f for f in found), found


def test_an_overturn_pays_once_only() -> None:
    log = good_log()
    overturn = first(log, ev.RejectionOverturned)
    found = credits.check(appended(log, overturn.event, "again/0"))
    assert any("overturned but it was overturned" in f for f in found), found


def test_an_overturn_of_an_approved_submission_is_a_violation() -> None:
    log = good_log()
    approved = first(log, ev.SubmissionApproved).event
    wrong = ev.RejectionOverturned(approved.task_id, approved.submission_id, "wanda", "acme",
                                   50_000, 10_000, "EUR", "olga")  # fmt: skip
    found = credits.check(appended(log, wrong, "wrong/0"))
    assert any("overturned but it was approved" in f for f in found), found


def test_an_approval_twice_is_a_violation() -> None:
    log = good_log()
    approved = first(log, ev.SubmissionApproved)
    found = credits.check(appended(log, approved.event, "twice/0"))
    assert any("approved after it was approved (paid twice)" in f for f in found), found


def test_the_grace_window_counts_back_from_the_given_end_of_the_log() -> None:
    log = good_log(deliver=False)
    assert len(run(credits.Credits(end_ms=T0 + 150_000), log).pending()) == 3
    assert len(run(credits.Credits(grace_ms=1, end_ms=T0 + 150_000), log).pending()) == 0
