"""Which task group an informed simulated worker claims from: given the groups and their
requesters' scorecards, flagged requesters are skipped, low measured
wages are skipped, the best measured wage comes first, unmeasured requesters last."""

from __future__ import annotations

from typing import Any

from deploy.simulation.group_choice import ACCEPTED, FLAGGED, LOW_WAGE, choose, verdict
from deploy.simulation.kinds import WAGE_FLOORS


def card(wage: int | None, flagged: bool | None = False, reviews: int = 40) -> dict[str, Any]:
    ok = "ok" if reviews >= 20 else "insufficient_data"
    return {"effective_hourly_wage": {"value": wage, "reviews": reviews,
                                      "status": ok if wage is not None else "insufficient_data"},
            "rejection_outlier": {"flagged": flagged, "threshold": 0.1, "reviews": reviews,
                                  "status": ok if flagged is not None else "insufficient_data"}}


def group(gid: str, requester: str, scorecard: dict[str, Any], currency: str = "EUR",
          reward_per_hour: int = 6_000_000) -> dict[str, Any]:
    return {"group_id": gid, "requester_id": requester, "currency": currency,
            "reward_per_hour": reward_per_hour, "requester": scorecard}


EUR = WAGE_FLOORS["EUR"]


def test_the_best_measured_wage_comes_first_and_flagged_requesters_are_skipped():
    groups = [group("g1", "fair", card(7 * EUR // 6)),
              group("g2", "cheat", card(9 * EUR, flagged=True)),  # pays well, rejects a lot
              group("g3", "better", card(2 * EUR))]

    choice = choose(groups)

    assert [g["group_id"] for g in choice.ranked] == ["g3", "g1"]
    assert choice.flagged == {"cheat"} and choice.low_wage == frozenset()


def test_a_measured_wage_below_a_quarter_of_the_floor_is_skipped():
    groups = [group("g1", "stingy", card(EUR // 4 - 1)), group("g2", "poor", card(EUR // 4))]

    choice = choose(groups)

    assert [g["group_id"] for g in choice.ranked] == ["g2"]
    assert choice.low_wage == {"stingy"}
    assert verdict(groups[0]) == LOW_WAGE and verdict(groups[1]) == ACCEPTED


def test_the_flag_is_read_as_it_is_now_even_on_a_low_wage():
    flagged_and_poor = group("g1", "cheat", card(EUR // 10, flagged=True))
    cleared = group("g1", "cheat", card(3 * EUR, flagged=False))  # a later listing

    assert verdict(flagged_and_poor) == FLAGGED
    assert choose([flagged_and_poor]).low_wage == frozenset()
    assert verdict(cleared) == ACCEPTED


def test_unmeasured_requesters_come_after_measured_ones_best_offer_first():
    groups = [group("new-rich", "n1", card(None, None, reviews=3), reward_per_hour=20 * EUR),
              group("known", "k", card(EUR // 2)),
              group("new-poor", "n2", card(None, None, reviews=0), reward_per_hour=EUR)]

    ranked = [g["group_id"] for g in choose(groups).ranked]

    assert ranked == ["known", "new-rich", "new-poor"]


def test_a_figure_with_too_few_reviews_is_not_read_as_a_wage():
    # a value with status insufficient_data (the API sends null, but be strict) is unknown
    thin = card(EUR // 10, None, reviews=5)
    thin["effective_hourly_wage"]["status"] = "insufficient_data"
    assert verdict(group("g", "r", thin)) == ACCEPTED


def test_wages_are_compared_in_wage_floors_across_currencies():
    usd = WAGE_FLOORS["USD"]
    groups = [group("eur", "e", card(EUR)),  # exactly the floor
              group("usd", "u", card(usd * 3 // 2), currency="USD")]  # 1.5 floors

    assert [g["group_id"] for g in choose(groups).ranked] == ["usd", "eur"]


def test_a_group_without_a_scorecard_is_unmeasured_not_flagged():
    bare = {"group_id": "g", "requester_id": "r", "currency": "EUR", "reward_per_hour": None}
    assert verdict(bare) == ACCEPTED
    assert choose([bare]).ranked == (bare,)
