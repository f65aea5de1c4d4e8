"""Power report: given events folded by the real projections, then hand-computed figures."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from consumers.engine.runner import fold_log
from consumers.power import snapshot as power_snapshot
from consumers.power import stats as power_stats
from consumers.power.figures import power_report
from tests.view_story import Story, full_story

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
EUR = 1_000_000
FLOOR = 6 * EUR  # the platform's EUR floor, per hour


def report(story: Story, floor: int = FLOOR, **kw: Any) -> dict[str, Any]:
    return power_report(fold_log(story.records), "EUR", floor, **kw)


def work(s: Story, task: str, worker: str, ms: int) -> str:
    claim = s.claim(task, worker)
    s.advance(ms)
    return s.submit(claim)


def test_the_articles_transcription_pays_under_a_euro_an_hour() -> None:
    # 13 EUR for two hours of audio that took 15 hours: 13e6 * 3.6e6 / 54e6 = 866,666.67
    s = Story()
    (task,) = s.post("acme", reward=13 * EUR, fee=2_600_000, estimated_seconds=7_200)
    s.approve(work(s, task, "amina", 15 * HOUR))
    got = report(s)
    assert got["effective_hourly_wage"] == {
        "p10": 866_667, "median": 866_667, "p90": 866_667, "pooled": 866_667,
    }  # fmt: skip
    assert (got["workers"], got["requesters"], got["share_below_floor"]) == (1, 1, 1.0)
    assert got["unpaid_work_ratio"] == 0.0


def test_rejected_work_is_unpaid_time_until_an_overturn_pays_it() -> None:
    s = Story()
    a, b = s.post("acme", count=2, reward=EUR // 2, fee=100_000)
    s.approve(work(s, a, "wanda", 10 * MINUTE))
    rejected = work(s, b, "wanda", 30 * MINUTE)
    s.reject(rejected)
    before = report(s)
    assert before["unpaid_work_ratio"] == 0.75  # 30 of 40 minutes earned nothing
    assert before["effective_hourly_wage"]["median"] == 750_000  # 0.5 EUR in 40 min
    assert before["overturned"] == {"count": 0, "share": 0.0, "disputed": 0}
    s.dispute(rejected)
    s.overturn(rejected)
    after = report(s)
    assert after["unpaid_work_ratio"] == 0.0
    assert after["effective_hourly_wage"]["median"] == 1_500_000  # 1 EUR in 40 min
    assert after["overturned"] == {"count": 1, "share": 1.0, "disputed": 1}
    assert after["rejection_rate"]["platform"] == 0.5  # the rejection still happened


def test_released_expired_and_pending_work_count_as_work_time() -> None:
    s = Story()
    (task,) = s.post("acme", assignments=4, reward=EUR, fee=200_000)
    released = s.claim(task, "wanda")
    s.advance(5 * MINUTE).release(released)
    expired = s.claim(task, "wanda")
    s.advance(15 * MINUTE).expire_claim(expired)
    s.approve(work(s, task, "wanda", 20 * MINUTE))
    work(s, task, "wanda", 20 * MINUTE)  # submitted, not reviewed yet
    got = report(s)
    assert got["unpaid_work_ratio"] == 0.333333  # 20 of 60 minutes
    assert got["pending_work_ratio"] == 0.333333
    assert got["effective_hourly_wage"]["median"] == EUR  # 1 EUR over the whole hour


def test_wage_percentiles_are_nearest_rank_and_the_floor_share_counts_workers() -> None:
    s = Story()
    tasks = s.post("acme", count=10, reward=EUR, fee=200_000)
    for i, task in enumerate(tasks, 1):
        s.approve(work(s, task, f"w{i}", HOUR // i))  # i EUR per hour
    got = report(s)
    assert got["effective_hourly_wage"] == {
        "p10": 1 * EUR, "median": 5 * EUR, "p90": 9 * EUR, "pooled": 3_414_172,
    }  # fmt: skip
    assert got["share_below_floor"] == 0.5  # 1..5 EUR/h are below 6
    assert report(s, floor=0)["share_below_floor"] == 0.0


def test_two_requesters_at_fifty_fifty_give_an_hhi_of_5000() -> None:
    s = Story()
    (a,) = s.post("acme", reward=EUR, fee=200_000)
    (z,) = s.post("zeta", reward=EUR, fee=200_000)
    s.approve(work(s, a, "wanda", HOUR))
    s.approve(work(s, z, "walt", HOUR))
    assert report(s)["hhi"] == 5_000.0
    s.bonus(a, "wanda", 2 * EUR, 400_000)  # acme now spends 3.6 of 4.8: 75/25
    assert report(s)["hhi"] == 6_250.0


def test_equal_earnings_have_a_gini_of_zero_and_one_earner_of_four_three_quarters() -> None:
    s = Story()
    tasks = s.post("acme", count=4, reward=EUR, fee=200_000)
    subs = [work(s, t, f"w{i}", HOUR) for i, t in enumerate(tasks)]
    for sub in subs:
        s.approve(sub)
    assert report(s)["gini"] == 0.0
    s2 = Story()
    tasks = s2.post("acme", count=4, reward=EUR, fee=200_000)
    subs = [work(s2, t, f"w{i}", HOUR) for i, t in enumerate(tasks)]
    s2.approve(subs[0])
    for sub in subs[1:]:
        s2.reject(sub)
    assert report(s2)["gini"] == 0.75  # workers with no earnings are in the population


@pytest.mark.parametrize(("assignments", "take", "on_pay"), [
    (1, 0.166667, 0.2),  # MTurk's 20 % of the reward is 1/6 of what the requester spends
    (10, 0.285714, 0.4),  # +20 % for tasks of ten or more assignments
])  # fmt: skip
def test_take_rate_with_mturk_like_fees(assignments: int, take: float, on_pay: float) -> None:
    s = Story()
    fee = EUR * (2_000 if assignments < 10 else 4_000) // 10_000
    (task,) = s.post("acme", reward=EUR, fee=fee, assignments=assignments)
    s.approve(work(s, task, "wanda", HOUR))
    got = report(s)
    assert (got["take_rate"], got["fee_on_pay"]) == (take, on_pay)
    assert got["totals"]["fees"] == fee and got["totals"]["gross_spend"] == EUR + fee


def reviews(s: Story, requester: str, approved: int, rejected: int) -> None:
    tasks = s.post(requester, count=approved + rejected)
    subs = [work(s, t, f"{requester}-w{i % 5}", MINUTE) for i, t in enumerate(tasks)]
    for sub in subs[:approved]:
        s.approve(sub)
    for sub in subs[approved:]:
        s.reject(sub)


def test_a_harsh_requester_is_flagged_and_fair_or_small_ones_are_not() -> None:
    s = Story()
    reviews(s, "fair", 90, 10)
    reviews(s, "alsofair", 88, 12)
    reviews(s, "harsh", 10, 10)
    reviews(s, "small", 2, 8)  # 80 % but only 10 reviews: not enough to judge
    got = report(s)
    assert got["rejection_rate"]["platform"] == 0.173913  # 40 of 230
    assert got["rejection_rate"]["by_requester"] == {
        "alsofair": 0.12, "fair": 0.1, "harsh": 0.5, "small": 0.8,
    }  # fmt: skip
    # the rest of the platform rejects 30 of 210 (1/7); 3 SE at n = 20 is 0.234738
    assert got["rejection_outliers"] == [{
        "requester": "harsh", "reviewed": 20, "rejected": 10, "rate": 0.5, "threshold": 0.377595,
    }]  # fmt: skip


def test_time_to_pay_percentiles_come_from_the_histogram() -> None:
    s = Story()
    tasks = s.post("acme", count=20)
    subs = [s.submit(s.claim(t, f"w{i}")) for i, t in enumerate(tasks)]
    s.advance(MINUTE)
    for sub in subs[:18]:
        s.approve(sub)
    s.advance(3 * DAY - MINUTE)
    for sub in subs[18:]:
        s.approve(sub, automatic=True)
    got = report(s)["time_to_pay_seconds"]
    # bucket midpoints: 1 min is in [57.344, 65.536) s, 3 days in [234,881, 268,435) s
    assert got == {"p50": 61, "p95": 251_658, "approvals": 20}


def test_dependency_is_the_share_of_earnings_from_the_top_requester() -> None:
    s = Story()
    (a,) = s.post("acme", reward=3 * EUR, fee=0, assignments=2)
    (z,) = s.post("zeta", reward=EUR, fee=0)
    s.approve(work(s, a, "wanda", HOUR))
    s.approve(work(s, z, "wanda", HOUR))
    s.approve(work(s, a, "walt", HOUR))
    assert report(s)["dependency"] == {"median": 0.75, "p90": 1.0}


def test_wage_floor_compliance_counts_postings_flagged_below_the_floor() -> None:
    s = Story()
    s.post("acme", count=3)
    s.post("cheap", "b2", below_wage_floor=True)
    assert report(s)["wage_floor_compliance"] == {"posted": 4, "below_floor": 1,
                                                  "share_below": 0.25}  # fmt: skip


def test_pay_in_another_currency_is_not_this_reports_money() -> None:
    s = Story(currency="USD")
    (task,) = s.post("acme", reward=EUR, fee=200_000, currency="USD")
    s.approve(work(s, task, "wanda", HOUR))
    got = report(s)
    assert got["workers"] == 1 and got["effective_hourly_wage"]["median"] == 0
    assert (got["hhi"], got["take_rate"], got["totals"]["paid"]) == (0.0, None, 0)


def test_an_empty_platform_reports_nothing_rather_than_failing() -> None:
    got = report(Story())
    assert got["workers"] == 0 and got["effective_hourly_wage"]["median"] is None
    assert got["time_to_pay_seconds"] == {"p50": None, "p95": None, "approvals": 0}
    assert got["rejection_outliers"] == [] and got["dependency"]["median"] is None


def test_top_requesters_are_ranked_by_spend_and_cut_at_top_k() -> None:
    s = full_story()
    got = report(s, top_k=1)
    assert [r["requester"] for r in got["top_requesters"]] == ["acme"]
    # acme: an approval (50,000 + 10,000 fee) and a bonus (7,000 + 1,400); zeta: an overturn
    assert got["top_requesters"][0]["spend_share"] == 0.53271  # 68,400 of 128,400
    assert len(report(s)["top_requesters"]) == 2


def test_the_same_report_whatever_the_order_partitions_interleave() -> None:
    records = full_story().records
    reordered = sorted(records, key=lambda r: (r[0], r[1]))
    assert power_report(fold_log(records), "EUR", FLOOR) == power_report(
        fold_log(reordered), "EUR", FLOOR
    )


def test_gini_and_hhi_helpers_are_exact() -> None:
    assert power_stats.gini([5, 5, 5]) == 0
    assert power_stats.gini([0, 10]) == power_stats.gini([0, 0, 7]) * 3 / 4 == 0.5
    assert power_stats.hhi([1, 1, 1, 1]) == 2_500
    assert power_stats.hourly_wage(13 * EUR, 15 * HOUR) == 866_667
    assert power_stats.nearest_rank([1, 2, 3, 4], 50) == 2


class CountingReader:
    """A MemoryStore that counts round trips, to keep the live query's cost in check."""

    def __init__(self, store: Any) -> None:
        self.store, self.calls = store, Counter[str]()

    def __getattr__(self, name: str) -> Any:
        self.calls[name] += 1
        return getattr(self.store, name)


def test_per_worker_keys_are_read_in_chunks_not_one_by_one(monkeypatch: Any) -> None:
    monkeypatch.setattr(power_snapshot, "CHUNK", 4)
    s = Story()
    tasks = s.post("acme", count=10)
    subs = [work(s, t, f"w{i}", MINUTE) for i, t in enumerate(tasks)]
    for sub in subs[:7]:
        s.approve(sub)
    for sub in subs[7:]:
        s.reject(sub)
    reader = CountingReader(fold_log(s.records))
    power_report(reader, "EUR", FLOOR)
    # 10 workers in chunks of 4: 3 pipelined reads; 1 for the requester; one scan of the view
    assert reader.calls["hgetall_many"] == 3 + 1 and reader.calls["scan"] == 1
    assert reader.calls["hgetall"] == 2  # the time-to-pay histogram and the platform sums
    # rejected sets: one pipelined read per chunk, never one round trip per worker
    assert reader.calls["smembers"] == 0 and reader.calls["smembers_many"] == 3


def test_the_python_in_docs_metrics_runs() -> None:
    text = (Path(__file__).parents[2] / "docs" / "METRICS.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/METRICS.md", "exec"), {})
