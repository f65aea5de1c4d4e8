"""Worker wallet: credits from the processor, payouts bounded by the balance."""

import pytest

from broker.domain.wallet import Wallet, evolve_wallet
from schemas import events as ev
from schemas.commands import CreditWorker, IssuePayout
from tests.unit.domain_kit import OPERATOR, SYSTEM, TASK, R, W, events, given, refused, when, worker


def credit(source="cmd-9/0", amount=50_000):
    return CreditWorker(W, source, R, TASK, amount, "EUR")


def credited(source="cmd-9/0", amount=50_000, currency="EUR"):
    return ev.WorkerCredited(W, source, R, TASK, amount, currency)


def test_credit_from_the_system():
    assert events(when(given(), credit(), actor=SYSTEM)) == [credited()]


def test_a_source_event_is_credited_once():
    refused(when(given(credited()), credit(), actor=SYSTEM), "duplicate_credit")
    assert events(when(given(credited()), credit("cmd-10/0"), actor=SYSTEM))


@pytest.mark.parametrize("actor", [OPERATOR, worker(), ("requester", R)])
def test_only_the_system_credits(actor):
    refused(when(given(), credit(), actor=actor), "forbidden")


def test_payout_within_the_balance():
    shard = given(credited())
    assert events(when(shard, IssuePayout(W, "p1", 50_000, "EUR"), actor=OPERATOR)) == [
        ev.PayoutIssued(W, "p1", 50_000, "EUR")
    ]
    assert events(when(shard, IssuePayout(W, "p1", 1, "EUR"), actor=SYSTEM))


def test_payout_refusals():
    shard = given(credited(), ev.PayoutIssued(W, "p1", 10_000, "EUR"))
    refused(when(shard, IssuePayout(W, "p2", 40_001, "EUR"), actor=SYSTEM), "insufficient_balance")
    refused(when(shard, IssuePayout(W, "p2", 1, "USD"), actor=SYSTEM), "insufficient_balance")
    refused(when(shard, IssuePayout(W, "p1", 1, "EUR"), actor=SYSTEM), "duplicate_payout")
    refused(when(shard, IssuePayout(W, "p2", 1, "EUR"), actor=worker()), "forbidden")


def test_payout_from_an_unknown_wallet_is_not_found():
    refused(when(given(), IssuePayout(W, "p1", 1, "EUR"), actor=SYSTEM), "not_found")


def test_wallet_fold():
    wallet = given(
        credited("a/0", 7), credited("b/0", 5, "USD"), ev.PayoutIssued(W, "p1", 3, "EUR")
    ).wallets[W]
    assert wallet.balance == {"EUR": 4, "USD": 5}
    assert set(wallet.credited) == {"a/0", "b/0"} and "p1" in wallet.payouts
    assert wallet.version == 3


def test_wallet_fold_rejects_foreign_events():
    with pytest.raises(ValueError):
        evolve_wallet(Wallet(W), ev.FundsDeposited(R, 1, "EUR"))
