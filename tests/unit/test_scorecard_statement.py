"""Scorecards and statements: the pure computations, given events (on a MemoryStore).

A scorecard is the power report's own figures for one requester (the report lists the
same dict); a statement's overall figures are the report's for one worker."""

from __future__ import annotations

import pytest

from consumers.engine.runner import fold_log
from consumers.power.figures import summarize
from consumers.power.scorecard import INSUFFICIENT, MIN_REVIEWS, OK, wilson_interval
from consumers.power.snapshot import collect
from consumers.queries import power_query
from consumers.stores.memory_store import MemoryStore
from tests.view_story import Story

S = 1_000  # ms


def fold(story: Story) -> MemoryStore:
    store = fold_log(story.records)  # every audited view: power and ledger among them
    assert isinstance(store, MemoryStore)
    return store


def reviewed(s: Story, requester: str, n: int, rejected: int, work_s: int = 60) -> None:
    tasks = s.post(requester, f"r{len(s.records)}", count=n, estimated_seconds=30)
    for i, task in enumerate(tasks):
        claim = s.claim(task, f"w{i % 7}")
        sub = s.advance(work_s * S).submit(claim)
        s.advance(120 * S)
        (s.reject if i < rejected else s.approve)(sub)


def test_the_wilson_interval_matches_published_values() -> None:
    assert wilson_interval(0, 0) is None
    low, high = wilson_interval(0, 10)
    assert low == 0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(10, 25)
    assert (low, high) == (pytest.approx(0.2340, abs=1e-4), pytest.approx(0.5926, abs=1e-4))


def test_too_few_reviews_say_so_instead_of_showing_noise() -> None:
    s = Story()
    reviewed(s, "newbie", 5, rejected=0)
    card = power_query.requester_scorecard(fold(s), "newbie", "EUR")
    assert card["reviewed"] == 5 and card["approved"] == 5 and card["min_reviews"] == MIN_REVIEWS
    for figure in ("effective_hourly_wage", "rejection_rate", "rejection_outlier",
                   "overturned_share"):
        assert card[figure]["status"] == INSUFFICIENT, figure
        assert card[figure]["reviews"] == 5
    assert card["effective_hourly_wage"]["value"] is None
    assert card["rejection_rate"] == {"value": None, "low": None, "high": None, "reviews": 5,
                                      "status": INSUFFICIENT}  # fmt: skip
    assert card["rejection_outlier"]["flagged"] is None
    assert card["time_to_pay_seconds"] == {"p50": None, "p95": None, "approvals": 5,
                                           "status": INSUFFICIENT}  # fmt: skip
    assert card["promised_hourly_wage"] == 6_000_000  # a promise needs no review: 0.05 / 30 s
    assert card["realised_share_of_promised"] is None


def test_a_scorecard_is_the_reports_figures_for_that_requester() -> None:
    s = Story()
    reviewed(s, "fair", 30, rejected=1)
    reviewed(s, "harsh", 25, rejected=10, work_s=90)
    store = fold(s)
    report = summarize(collect(store, "EUR"), 6_000_000)
    harsh = power_query.requester_scorecard(store, "harsh", "EUR")
    assert report["scorecards"]["harsh"] == harsh
    assert report["scorecards"]["fair"] == power_query.requester_scorecard(store, "fair", "EUR")
    flagged = {o["requester"]: o for o in report["rejection_outliers"]}
    assert harsh["rejection_outlier"] == {"flagged": True, "threshold":
                                          flagged["harsh"]["threshold"], "reviews": 25,
                                          "status": OK}  # fmt: skip
    assert report["scorecards"]["fair"]["rejection_outlier"]["flagged"] is False
    assert harsh["rejection_rate"]["value"] == report["rejection_rate"]["by_requester"]["harsh"]
    low, high = wilson_interval(10, 25)
    assert harsh["rejection_rate"]["low"] == round(low, 6)
    assert harsh["rejection_rate"]["high"] == round(high, 6)
    # 15 approvals of 0.05 over 25 claims of 90 s: 0.75 EUR in 37.5 minutes = 1.20 EUR/h
    assert harsh["effective_hourly_wage"] == {"value": 1_200_000, "reviews": 25, "status": OK}
    assert harsh["promised_hourly_wage"] == 6_000_000
    assert harsh["realised_share_of_promised"] == 0.2
    assert harsh["time_to_pay_seconds"]["approvals"] == 15
    assert harsh["time_to_pay_seconds"]["status"] == INSUFFICIENT
    fair = report["scorecards"]["fair"]["time_to_pay_seconds"]
    assert fair["approvals"] == 29 and fair["status"] == OK
    assert fair["p50"] == fair["p95"] == report["time_to_pay_seconds"]["p50"]  # all 120 s


def test_an_unknown_requester_has_an_empty_scorecard() -> None:
    card = power_query.requester_scorecard(MemoryStore(), "nobody", "EUR")
    assert card["reviewed"] == 0 and card["effective_hourly_wage"]["status"] == INSUFFICIENT


def scripted() -> Story:
    """wanda's history: approved with a bonus, released, expired, overturned, rejected,
    pending; credited in part and paid out in part."""
    s = Story()
    a = s.post("acme", "a", count=4)
    z = s.post("zeta", "z", count=2, reward=20_000, fee=4_000)
    c1 = s.claim(a[0], "wanda")
    sub1 = s.advance(60 * S).submit(c1)
    s.advance(120 * S).approve(sub1)
    c2 = s.claim(a[1], "wanda")
    s.advance(30 * S).release(c2)
    c3 = s.claim(a[2], "wanda")
    s.advance(900 * S).expire_claim(c3)
    c4 = s.claim(z[0], "wanda")
    sub4 = s.advance(45 * S).submit(c4)
    s.reject(sub4)
    s.dispute(sub4)
    s.overturn(sub4)
    c5 = s.claim(z[1], "wanda")
    sub5 = s.advance(20 * S).submit(c5)
    s.reject(sub5)
    c6 = s.claim(a[3], "wanda")
    s.advance(10 * S).submit(c6)
    s.bonus(a[0], "wanda", 7_000, 1_400)
    s.credit("wanda", "acme", a[0], 50_000)
    s.credit("wanda", "acme", a[0], 7_000)
    s.payout("wanda", 30_000)
    return s


def test_a_statement_equals_the_hand_computation() -> None:
    store = fold(scripted())
    found = power_query.worker_statement(store, "wanda", "EUR")
    acme, zeta = found["by_requester"]
    assert acme == {
        "requester_id": "acme", "pay": 50_000, "bonuses": 7_000, "paid": 57_000,
        "work_ms": 1_000_000, "unpaid_ms": 930_000,
        "unpaid_by_cause_ms": {"rejected": 0, "released": 30_000, "expired": 900_000,
                               "pending": 10_000},
        "pending_ms": 10_000,
        "effective_hourly_wage": 205_200,  # 0.057 EUR in 1,000 s
        "submitted": 2, "approved": 1, "rejected": 0, "overturned": 0, "released": 1,
        "expired": 1,
    }  # fmt: skip
    assert zeta == {
        "requester_id": "zeta", "pay": 20_000, "bonuses": 0, "paid": 20_000,
        "work_ms": 65_000, "unpaid_ms": 20_000,
        "unpaid_by_cause_ms": {"rejected": 20_000, "released": 0, "expired": 0, "pending": 0},
        "pending_ms": 0,
        "effective_hourly_wage": 1_107_692,  # 0.02 EUR in 65 s, rounded half up
        "submitted": 2, "approved": 0, "rejected": 2, "overturned": 1, "released": 0,
        "expired": 0,
    }  # fmt: skip
    overall = found["overall"]
    assert (overall["paid"], overall["work_ms"], overall["unpaid_ms"], overall["pending_ms"],
            overall["effective_hourly_wage"]) == (77_000, 1_065_000, 950_000, 10_000, 260_282)
    assert found["money"] == {"earned": 77_000, "credited": 57_000, "paid_out": 30_000,
                              "balance": 27_000, "owed": 20_000, "pending": 47_000}  # fmt: skip
    # the same numbers as the power report's, for this worker
    worker = next(w for w in collect(store, "EUR").workers if w.id == "wanda")
    assert (worker.paid, worker.work_ms, worker.unpaid_ms, worker.pending_ms, worker.wage) == (
        overall["paid"], overall["work_ms"], overall["unpaid_ms"], overall["pending_ms"],
        overall["effective_hourly_wage"])


def test_a_statement_in_another_currency_has_no_money_but_the_same_times() -> None:
    found = power_query.worker_statement(fold(scripted()), "wanda", "USD")
    assert found["overall"]["paid"] == 0 and found["overall"]["work_ms"] == 1_065_000
    assert found["money"]["earned"] == 0


def test_a_worker_with_no_history_has_an_empty_statement() -> None:
    found = power_query.worker_statement(MemoryStore(), "ghost", "EUR")
    assert found["by_requester"] == [] and found["overall"]["effective_hourly_wage"] is None
