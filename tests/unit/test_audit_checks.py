"""The audit's log checks: each passes the good lifecycle and fails on one crafted flaw."""

from __future__ import annotations

import msgspec

from audit.checks import MAX_LISTED, aggregates, ids, sequences, wallets
from schemas import events as ev
from tests.unit.audit_kit import (
    appended,
    as_records,
    envs,
    first,
    good_log,
    replaced,
    with_event,
)


def test_the_good_lifecycle_passes_every_log_check() -> None:
    log = good_log()
    assert ids.check(log) == []
    assert sequences.check(log) == []
    assert aggregates.check(log) == []
    assert wallets.check(log) == []


# --- ids ------------------------------------------------------------------------------


def test_a_duplicate_event_id_is_a_violation() -> None:
    log = good_log()
    approval = first(log, ev.SubmissionApproved)
    twin = first(log, ev.BonusGranted)
    bad = replaced(log, twin, msgspec.structs.replace(twin, event_id=approval.event_id))
    (found,) = ids.check(bad)
    assert approval.event_id in found and "repeats" in found


def test_a_long_list_of_violations_is_capped_but_counted() -> None:
    log = good_log()
    bad = [(p, o, msgspec.structs.replace(env, event_id="same")) for p, o, env in log]
    found = ids.check(bad)
    assert len(found) == min(len(log) - 1, MAX_LISTED) + (len(log) - 1 > MAX_LISTED)


# --- sequences --------------------------------------------------------------------------


def test_a_sequence_gap_is_a_violation() -> None:
    log = good_log()
    claimed = first(log, ev.TaskClaimed)
    bad = as_records([e for e in envs(log) if e is not claimed])
    found = sequences.check(bad)
    assert any("gap" in f and claimed.aggregate_id in f for f in found), found


def test_a_repeated_sequence_is_a_violation() -> None:
    log = good_log()
    bonus = first(log, ev.BonusGranted)
    bad = replaced(log, bonus, msgspec.structs.replace(bonus, sequence=bonus.sequence - 1))
    found = sequences.check(bad)
    assert any("repeat" in f for f in found) and any("gap" in f for f in found), found


def test_an_aggregate_on_two_partitions_is_a_violation() -> None:
    log = good_log()
    p, _, payout = log[-1]
    assert isinstance(payout.event, ev.PayoutIssued)
    bad = [*log[:-1], ((p + 1) % 3, 99, payout)]
    (found,) = sequences.check(bad)
    assert "also written on partition" in found


def test_an_event_under_the_wrong_aggregate_id_is_a_violation() -> None:
    log = good_log()
    bonus = first(log, ev.BonusGranted)
    bad = replaced(log, bonus, msgspec.structs.replace(bonus, aggregate_id="task:acme:b1:1"))
    assert any("belongs to task:acme:b1:0" in f for f in sequences.check(bad))


def test_counts_of_aggregates_by_kind() -> None:
    seq = sequences.Sequences()
    for record in good_log():
        seq.observe(*record)
    assert seq.counts() == {"requester": 1, "task": 1, "worker": 2}


# --- aggregates (invariant 1) -----------------------------------------------------------


def test_more_claims_than_assignments_is_a_violation_at_the_offset_it_happens() -> None:
    log = good_log()
    claim = first(log, ev.TaskClaimed).event
    extra = msgspec.structs.replace(claim, claim_id=f"{claim.task_id}:c9", worker_id="wolf")
    found = aggregates.check(appended(log, extra, "extra/0"))
    assert any("4 claims and submissions > 3 assignments" in f for f in found), found


def test_escrow_that_does_not_match_the_tasks_is_a_violation() -> None:
    log = good_log()
    batch = first(log, ev.BatchPosted)
    bad = replaced(log, batch, with_event(batch, escrow=batch.event.escrow + 1))
    found = aggregates.check(bad)
    assert any("escrow 1 EUR but its tasks hold 0" in f for f in found), found


def test_an_event_the_aggregate_cannot_fold_is_reported_not_raised() -> None:
    log = good_log()
    claimed = first(log, ev.TaskClaimed)
    orphan = msgspec.structs.replace(claimed, aggregate_id="task:acme:b9:0", sequence=1)
    bad = replaced(log, claimed, with_event(orphan, task_id="acme:b9:0"))
    found = aggregates.check(bad)
    assert any("cannot apply" in f and "before TaskPosted" in f for f in found), found


def test_held_money_of_the_write_side_per_currency() -> None:
    check = aggregates.Aggregates()
    for record in good_log():
        check.observe(*record)
    assert check.held() == {"EUR": {"available": 9_874_000, "escrow": 0, "worker_balances": 65_000}}


# --- wallets (invariant 3, payouts) -------------------------------------------------------


def test_a_payout_over_the_balance_is_a_violation() -> None:
    log = good_log()
    payout = first(log, ev.PayoutIssued)
    bad = replaced(log, payout, with_event(payout, amount=55_001))
    (found,) = wallets.check(bad)
    assert "55001 EUR exceeds wanda's balance 55000" in found


def test_a_payout_before_its_credit_is_a_violation_even_if_the_end_balance_is_fine() -> None:
    log = good_log()
    order = envs(log)
    payout = first(log, ev.PayoutIssued)
    order.remove(payout)
    order.insert(next(i for i, e in enumerate(order) if e.type == "WorkerCredited"), payout)
    assert wallets.check(as_records(order)) != []
