"""Payment ledger: given events, then balances, and money conserved to the micro-unit."""

from __future__ import annotations

import random

import pytest

from consumers.engine.runner import apply_batch, fold_log
from consumers.stores.memory_store import MemoryStore
from consumers.stores.ops import Entry, Op, hincrby, offsets_key
from consumers.views import ledger
from tests.view_story import Story, full_story

VIEWS = {ledger.VIEW: ledger.project}


def fold(story: Story) -> MemoryStore:
    store = fold_log(story.records, views=VIEWS)
    assert isinstance(store, MemoryStore)
    return store


def figures(store: MemoryStore, key: str) -> dict[str, int]:
    return {k: int(v) for k, v in store.hgetall(key).items()}


def test_an_approved_task_moves_escrow_to_worker_and_platform() -> None:
    s = Story()
    s.deposit("acme", 1_000_000)
    (task,) = s.post("acme", reward=300, fee=60, assignments=2)  # the seed's 0.03 cent, x1000
    sub = s.submit(s.claim(task, "wanda"))
    s.approve(sub)
    s.credit("wanda", "acme", task, 300)
    s.payout("wanda", 200)
    store = fold(s)
    assert figures(store, ledger.requester_key("acme", "EUR")) == {
        "deposited": 1_000_000, "available": 1_000_000 - 720, "escrow": 360,
        "spent": 360, "fees": 60,
    }  # fmt: skip
    assert figures(store, ledger.worker_key("wanda", "EUR")) == {
        "earned": 300, "credited": 300, "paid": 200, "balance": 100,
    }  # fmt: skip
    assert figures(store, ledger.platform_key("EUR")) == {
        "deposits": 1_000_000, "gross_spend": 360, "fees": 60, "payouts": 200,
    }  # fmt: skip


def test_bonuses_and_overturns_are_paid_from_the_available_balance() -> None:
    s = Story()
    s.deposit("acme", 1_000_000)
    (task,) = s.post("acme")
    sub = s.submit(s.claim(task, "wanda"))
    s.reject(sub)
    s.overturn(sub)
    s.bonus(task, "wanda", 5_000, 1_000)
    store = fold(s)
    acct = figures(store, ledger.requester_key("acme", "EUR"))
    assert acct["escrow"] == 0  # the rejection returned it
    assert acct["available"] == 1_000_000 - 60_000 - 6_000
    assert acct["spent"] == 66_000 and acct["fees"] == 11_000
    assert figures(store, ledger.worker_key("wanda", "EUR")) == {"earned": 55_000}


def test_an_overturn_may_leave_the_requester_in_debt_without_breaking_the_books() -> None:
    s = Story()
    s.deposit("acme", 60_000)
    (task,) = s.post("acme")
    sub = s.submit(s.claim(task, "wanda"))
    s.reject(sub)
    s.bonus(task, "wanda", 50_000, 10_000)
    s.overturn(sub)
    store = fold(s)
    assert figures(store, ledger.requester_key("acme", "EUR"))["available"] == -60_000
    assert ledger.violations(ledger.ledger_totals(store)) == []


def test_claims_ending_after_the_task_closed_return_their_escrow() -> None:
    s = Story()
    s.deposit("acme", 1_000_000)
    (task,) = s.post("acme", assignments=3)
    live, late = s.claim(task, "wanda"), s.claim(task, "walt")
    s.close(task)
    s.release(live)
    s.expire_claim(late)
    acct = figures(fold(s), ledger.requester_key("acme", "EUR"))
    assert acct["escrow"] == 0 and acct["available"] == 1_000_000


def test_currencies_are_kept_apart() -> None:
    eur, usd = Story("EUR"), Story("USD")
    eur.deposit("acme", 10)
    usd.deposit("acme", 7)
    store = fold_log(eur.records, views=VIEWS)
    apply_batch(store, [(9, 0, usd.records[0][2])], VIEWS)
    assert set(ledger.ledger_totals(store)) == {"EUR", "USD"}
    assert ledger.ledger_totals(store)["USD"]["deposits"] == 7


def test_money_is_conserved_after_every_event() -> None:
    s = full_story()
    store = MemoryStore()
    for record in s.records:
        apply_batch(store, [record], VIEWS)
        totals = ledger.ledger_totals(store)
        assert ledger.violations(totals) == [], record
    eur = ledger.ledger_totals(store)["EUR"]
    assert eur["imbalance"] == 0 and eur["owed"] == 0
    assert eur["deposits"] == 7_000_000 and eur["payouts"] == 80_000


def test_a_broken_ledger_is_reported() -> None:
    store = fold(full_story())
    store.apply([ledger_entry(hincrby(ledger.worker_key("ghost", "EUR"), "balance", -5))])
    found = ledger.violations(ledger.ledger_totals(store))
    assert any("not conserved" in v for v in found)
    assert any("below zero" in v for v in found)
    store.apply([ledger_entry(hincrby(ledger.platform_key("EUR"), "fees", 5), offset=2)])
    assert any("platform fees" in v for v in ledger.violations(ledger.ledger_totals(store)))


def ledger_entry(op: Op, offset: int = 1) -> Entry:
    return Entry(offsets_key("tamper"), 0, offset, (op,))


@pytest.mark.parametrize("seed", range(5))
def test_the_ledger_is_a_sum_any_event_order_gives_the_same_books(seed: int) -> None:
    records = full_story().records
    shuffled = [env for _, _, env in records]
    random.Random(seed).shuffle(shuffled)
    reordered = [(0, offset, env) for offset, env in enumerate(shuffled)]
    expected = fold_log(records, views=VIEWS).digest(ledger.PREFIX)
    assert fold_log(reordered, views=VIEWS).digest(ledger.PREFIX) == expected


def test_redelivered_events_change_nothing() -> None:
    s = full_story()
    store = fold(s)
    before = store.digest(ledger.PREFIX)
    assert apply_batch(store, s.records[:10], VIEWS) == 0
    assert store.digest(ledger.PREFIX) == before
