"""Invariants 2, 4 and 5 in the audit: money, views against live, dead letters."""

from __future__ import annotations

from audit.checks import decoding, money, views
from audit.run import Options, audit
from audit.source import ListLog
from consumers.engine.runner import fold_log
from consumers.views.ledger import ledger_totals
from schemas import commands as c
from schemas import events as ev
from tests.unit.audit_kit import as_records, first, good_log, replaced, with_event
from tests.unit.domain_kit import OPERATOR, T0, Market

HELD = {"EUR": {"available": 9_874_000, "escrow": 0, "worker_balances": 65_000}}


def totals() -> dict[str, dict[str, int]]:
    return ledger_totals(fold_log(good_log()))


def test_the_lifecycle_conserves_money_and_both_folds_agree() -> None:
    assert totals()["EUR"]["imbalance"] == 0
    assert money.check(totals(), {}, HELD) == []


def test_unbalanced_money_is_a_violation() -> None:
    t = totals()
    t["EUR"]["deposits"] += 7  # money from nowhere: what a projection bug would produce
    t["EUR"]["imbalance"] += 7
    found = money.check(t, {}, HELD)
    assert "EUR: money not conserved, imbalance 7" in found


def test_money_owed_but_not_in_flight_is_a_violation() -> None:
    found = money.check(totals(), {"EUR": 1}, HELD)
    assert found == ["EUR: ledger owes workers 0 but uncredited approvals owe 1"]


def test_a_ledger_that_disagrees_with_the_write_side_is_a_violation() -> None:
    held = {"EUR": {**HELD["EUR"], "escrow": 60_000}}
    assert money.check(totals(), {}, held) == ["EUR: ledger escrow 0 != write side 60000"]


def test_a_tampered_amount_is_caught_although_each_event_balances_itself() -> None:
    log = good_log()
    approval = first(log, ev.SubmissionApproved)
    bad = replaced(log, approval, with_event(approval, reward=approval.event.reward + 1))
    assert ledger_totals(fold_log(bad))["EUR"]["imbalance"] == 0  # conservation alone: blind
    report = audit(ListLog(bad), Options(no_live_reason="unit"))
    failed = {v["check"] for v in report.violations}
    assert not report.ok and {"money", "credits", "aggregates"} <= failed, report.violations
    assert any("ledger owes workers 1" in v["message"] for v in report.violations)


def test_views_match_only_with_equal_digests() -> None:
    assert views.check({"ledger": "a", "queue": "b"}, {"ledger": "a", "queue": "b"}) == []
    (found,) = views.check({"ledger": "a", "queue": "b"}, {"ledger": "a", "queue": "c"})
    assert found.startswith("view queue:")
    assert views.check({"ledger": "a"}, {}) != []


def test_an_undecodable_event_without_a_dead_letter_is_a_violation() -> None:
    topic = "piecework.events"
    assert decoding.check([(2, 7)], {(topic, 2, 7)}, topic) == []
    assert decoding.check([(2, 7)], {(topic, 2, 8), ("other", 2, 7)}, topic) == [
        "undecodable event at piecework.events 2/7 has no dead letter"
    ]


def test_an_operator_overturn_that_puts_a_requester_in_debt_is_not_a_violation() -> None:
    # docs/DESIGN.md: the overturn is binding even below zero; the account then cannot post.
    m, r, spec = Market(), "acme", c.TaskSpec(kind="image_labelling", reward=50_000,
                                              currency="EUR", estimated_seconds=30,
                                              payload={"i": 1})  # fmt: skip
    m.send(c.DepositFunds(r, 60_000, "EUR"), ("requester", r), T0)
    task = m.send(c.PostTasks(r, "b1", (spec,)), ("requester", r), T0).reply.result["task_ids"][0]
    claim = m.send(c.ClaimTask(task, "walt"), ("worker", "walt"), T0).reply.result["claim_id"]
    sub = m.send(c.SubmitWork(task, claim, "walt", {"a": 1}), ("worker", "walt"), T0 + 1)
    sid = sub.reply.result["submission_id"]
    m.send(c.RejectSubmission(task, sid, r, "no"), ("requester", r), T0 + 2)
    m.send(c.PostTasks(r, "b2", (spec,)), ("requester", r), T0 + 3)  # spends the released escrow
    assert m.send(c.OverturnRejection(task, sid), OPERATOR, T0 + 4).reply.accepted
    while m.outbox:
        m.deliver(0, T0 + 5)
    assert m.shard.accounts[r].available["EUR"] == -60_000
    report = audit(ListLog(as_records(m.log)), Options(no_live_reason="unit"))
    assert report.ok, report.violations
