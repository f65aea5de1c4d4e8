"""Fees and wage floors, checked against arithmetic done by hand."""

import pytest

from broker.domain.policy import Policy, below_floor, bonus_fee, fee_for, implied_hourly

POLICY = Policy()


def test_fee_is_20_percent_below_ten_assignments():
    assert fee_for(POLICY, 50_000, 1) == 10_000
    assert fee_for(POLICY, 50_000, 9) == 10_000


def test_fee_is_40_percent_from_ten_assignments():
    # MTurk: 20 % + 20 % for tasks of 10 or more assignments; per assignment
    assert fee_for(POLICY, 50_000, 10) == 20_000
    assert fee_for(POLICY, 50_000, 1_000) == 20_000


def test_seed_translation_task_of_three_hundredths_of_a_cent():
    # 0.03 euro-cent = 0.0003 EUR = 300 micro-units; 20 % of it is exact
    assert fee_for(POLICY, 300, 1) == 60


def test_fee_rounds_half_up_to_the_micro_unit():
    assert fee_for(POLICY, 3, 1) == 1  # 0.6
    assert fee_for(POLICY, 2, 1) == 0  # 0.4
    assert fee_for(Policy(fee_bp=5_000), 1, 1) == 1  # 0.5 rounds up


def test_bonus_fee():
    assert bonus_fee(POLICY, 1_000_000) == 200_000
    assert bonus_fee(Policy(bonus_fee_bp=0), 1_000_000) == 0


def test_implied_hourly_of_the_articles_transcription():
    # 13 EUR for 2 h of audio that take 15 h to transcribe: 866 666.67 micro-units per hour
    assert implied_hourly(13_000_000, 15 * 3600) == 866_667


def test_implied_hourly_rounds_half_up():
    assert implied_hourly(1, 7_200) == 1  # exactly 0.5
    assert implied_hourly(1, 7_201) == 0
    assert implied_hourly(300, 600) == 1_800  # the seed's translation, if it took 10 minutes


def test_below_floor_is_strict():
    # EUR floor 6 000 000 micro/h: 100 000 micro in 60 s is exactly 6 EUR/h
    assert not below_floor(POLICY, 100_000, 60, "EUR")
    assert below_floor(POLICY, 99_999, 60, "EUR")


def test_floors_per_currency():
    # 7.00 per hour clears GBP 6 but not USD 7.25
    assert not below_floor(POLICY, 7_000_000, 3600, "GBP")
    assert below_floor(POLICY, 7_000_000, 3600, "USD")
    assert below_floor(POLICY, 13_000_000, 15 * 3600, "EUR")


def test_a_currency_without_floor_is_never_below():
    assert not below_floor(Policy(wage_floors={}), 1, 3600, "EUR")


def test_unknown_wage_floor_mode_is_refused():
    with pytest.raises(ValueError):
        Policy(wage_floor_mode="shrug")
