"""Requester account: deposits, postings with escrow and fees, and the money it folds."""

import dataclasses

from broker.domain.account import Account, evolve_account
from broker.domain.policy import Policy
from schemas import events as ev
from schemas.commands import DepositFunds, PostTasks, TaskSpec
from schemas.money import MAX_AMOUNT
from tests.unit.domain_kit import (
    OPERATOR,
    R2,
    T0,
    TASK,
    R,
    W,
    approved,
    events,
    given,
    open_task,
    overturned,
    refused,
    rejected,
    run,
    when,
    worker,
)


def spec(**overrides):
    fields = dict(
        kind="image_labelling",
        reward=50_000,
        currency="EUR",
        estimated_seconds=30,
        payload={"url": "u"},
    )
    fields.update(overrides)
    return TaskSpec(**fields)


def post(*specs, batch="b1", requester=R):
    return PostTasks(requester, batch, tuple(specs) or (spec(),))


# --- deposits ------------------------------------------------------------------------


def test_deposit_by_the_requester():
    decision = when(given(), DepositFunds(R, 5_000_000, "EUR"))
    assert events(decision) == [ev.FundsDeposited(R, 5_000_000, "EUR")]


def test_deposit_by_an_operator_is_allowed():
    assert events(when(given(), DepositFunds(R, 1, "EUR"), actor=OPERATOR))


def test_deposit_for_someone_else_is_forbidden():
    refused(when(given(), DepositFunds(R2, 1, "EUR")), "forbidden")
    refused(when(given(), DepositFunds(R, 1, "EUR"), actor=worker()), "forbidden")


def test_deposits_add_up_per_currency():
    shard = given(
        ev.FundsDeposited(R, 3, "EUR"),
        ev.FundsDeposited(R, 4, "EUR"),
        ev.FundsDeposited(R, 5, "USD"),
    )
    assert shard.accounts[R].available == {"EUR": 7, "USD": 5}
    assert shard.accounts[R].version == 3


# --- posting -------------------------------------------------------------------------


def test_post_reserves_reward_and_fee_of_every_assignment():
    decision = when(given(ev.FundsDeposited(R, 1_000_000, "EUR")), post(spec(assignments=2)))
    batch, task = events(decision)
    assert batch == ev.BatchPosted(R, "b1", 1, 120_000, "EUR")
    assert task == ev.TaskPosted(
        task_id=TASK,
        requester_id=R,
        batch_id="b1",
        kind="image_labelling",
        title="",
        reward=50_000,
        fee=10_000,
        currency="EUR",
        assignments=2,
        lease_seconds=900,
        expires_at=T0 + 7 * 86_400_000,
        auto_approve_seconds=3 * 86_400,
        estimated_seconds=30,
        priority=0,
        qualifications=(),
        payload={"url": "u"},
        payload_ref=None,
        below_wage_floor=False,
    )


def test_post_numbers_tasks_from_zero_and_sums_escrow():
    # 10 assignments: fee 20 000 each; (50 000 + 20 000) * 10 + (1 000 + 200) * 1
    decision = when(
        given(ev.FundsDeposited(R, 701_200, "EUR")), post(spec(assignments=10), spec(reward=1_000))
    )
    batch, *tasks = events(decision)
    assert [t.task_id for t in tasks] == ["acme:b1:0", "acme:b1:1"]
    assert [t.fee for t in tasks] == [20_000, 200]
    assert batch.escrow == 701_200 and batch.task_count == 2
    assert decision.reply.result["task_ids"] == ["acme:b1:0", "acme:b1:1"]


def test_post_sets_expiry_from_lifetime():
    decision = when(given(funds_eur()), post(spec(lifetime_seconds=60)), at=T0)
    assert events(decision)[1].expires_at == T0 + 60_000


def test_seed_translation_task_is_exact():
    decision = when(given(funds_eur(360)), post(spec(kind="translation", reward=300)))
    batch, task = events(decision)
    assert (task.reward, task.fee, batch.escrow) == (300, 60, 360)


def test_post_needs_available_funds():
    refused(when(given(funds_eur(119_999)), post(spec(assignments=2))), "insufficient_funds")
    assert events(when(given(funds_eur(120_000)), post(spec(assignments=2))))


def test_post_counts_only_the_batch_currency():
    shard = given(ev.FundsDeposited(R, 10**9, "USD"))
    refused(when(shard, post(spec(currency="EUR"))), "insufficient_funds")


def test_post_without_account_is_not_found():
    refused(when(given(), post()), "not_found")


def test_batch_id_cannot_be_reused():
    shard = given(funds_eur())
    run(shard, post())
    refused(when(shard, post(), command_id="cmd-2"), "duplicate_batch")


def test_batch_size_is_limited_by_policy():
    small = Policy(max_batch_tasks=2)
    refused(when(given(funds_eur()), post(spec(), spec(), spec()), policy=small), "batch_too_large")
    assert events(when(given(funds_eur()), post(spec(), spec()), policy=small))


def test_escrow_beyond_the_largest_amount_is_too_large():
    shard = given(ev.FundsDeposited(R, MAX_AMOUNT, "EUR"), ev.FundsDeposited(R, MAX_AMOUNT, "EUR"))
    refused(when(shard, post(spec(reward=MAX_AMOUNT))), "batch_too_large")


def test_below_floor_is_flagged_in_warn_mode():
    # 300 micro for 60 s is 18 000 micro/h, far below EUR 6/h
    decision = when(given(funds_eur()), post(spec(reward=300, estimated_seconds=60)))
    assert events(decision)[1].below_wage_floor is True
    assert decision.reply.result["below_wage_floor"] == 1


def test_below_floor_is_refused_in_refuse_mode():
    strict = Policy(wage_floor_mode="refuse")
    low = post(spec(), spec(reward=300, estimated_seconds=60))
    refused(when(given(funds_eur()), low, policy=strict), "below_wage_floor")
    assert (
        events(when(given(funds_eur()), post(spec()), policy=strict))[1].below_wage_floor is False
    )


def test_only_the_requester_itself_posts():
    refused(when(given(funds_eur()), post(), actor=worker()), "forbidden")
    refused(when(given(funds_eur()), post(), actor=("requester", R2)), "forbidden")
    refused(when(given(funds_eur()), post(), actor=OPERATOR), "forbidden")


def test_posting_moves_available_to_escrow():
    shard = given(funds_eur())
    run(shard, post(spec(assignments=2)))
    assert shard.accounts[R].available == {"EUR": 880_000}
    assert shard.accounts[R].escrow == {"EUR": 120_000}


# --- money folded from task events ---------------------------------------------------


def test_approval_spends_escrow():
    account = given(open_task()).accounts[R]
    after = evolve_account(account, approved())
    assert after.escrow == {"EUR": 60_000} and after.available == account.available


def test_rejection_returns_escrow_to_available():
    account = given(open_task()).accounts[R]
    after = evolve_account(account, rejected())
    assert after.escrow == {"EUR": 60_000} and after.available == {"EUR": 940_000}


def test_release_of_zero_changes_nothing():
    account = given(open_task()).accounts[R]
    release = ev.ClaimReleased(TASK, f"{TASK}:c1", W, T0, 0, "EUR")
    assert evolve_account(account, release) is account


def test_bonus_spends_available():
    account = given(open_task()).accounts[R]
    bonus = ev.BonusGranted(TASK, W, R, 100_000, 20_000, "EUR", "great")
    assert evolve_account(account, bonus).available == {"EUR": 760_000}


def test_overturn_is_binding_even_into_debt_and_then_blocks_posting():
    shard = given(open_task(deposit=120_000))  # everything in escrow, nothing available
    after = evolve_account(shard.accounts[R], overturned())
    assert after.available == {"EUR": -60_000} and after.in_debt()
    shard.accounts[R] = after
    refused(when(shard, post(batch="b2")), "account_in_debt")
    run(shard, DepositFunds(R, 60_000 + 120_000, "EUR"), command_id="top-up")
    assert events(when(shard, post(batch="b2"), command_id="again"))


def test_task_money_does_not_bump_the_account_version():
    account = given(open_task()).accounts[R]
    assert evolve_account(account, approved()).version == account.version == 2


def test_events_without_requester_money_leave_the_account_alone():
    account = Account(R)
    assert evolve_account(account, ev.TaskClaimed(TASK, "x", W, 1)) is account
    assert dataclasses.replace(account) == account


def funds_eur(amount=1_000_000):
    return ev.FundsDeposited(R, amount, "EUR")
