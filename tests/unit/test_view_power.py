"""Power sums: given events, then the raw figures behind wages, rejections and delays."""

from __future__ import annotations

import random

import pytest

from consumers.engine.runner import apply_batch, fold_log
from consumers.power.histogram import bucket, bucket_bounds
from consumers.stores.memory_store import MemoryStore
from consumers.views import power
from tests.view_story import Story, full_story

VIEWS = {power.VIEW: power.project}
MINUTE = 60_000


def fold(story: Story) -> MemoryStore:
    store = fold_log(story.records, views=VIEWS)
    assert isinstance(store, MemoryStore)
    return store


def figures(store: MemoryStore, key: str) -> dict[str, int]:
    return {k: int(v) for k, v in store.hgetall(key).items()}


def test_every_finished_claim_counts_as_work_and_only_submissions_can_be_paid() -> None:
    s = Story()
    (task,) = s.post("acme", assignments=3)
    released, expired, done = (s.claim(task, "wanda") for _ in range(3))
    s.advance(2 * MINUTE).release(released)
    s.advance(13 * MINUTE).expire_claim(expired)
    s.advance(5 * MINUTE).submit(done)
    got = figures(fold(s), power.worker_key("wanda"))
    assert got["work_ms"] == (2 + 15 + 20) * MINUTE
    assert got["unpaid_ms"] == (2 + 15) * MINUTE
    assert (got["released"], got["expired"], got["submitted"]) == (1, 1, 1)


def test_rejected_work_is_unpaid_until_overturned() -> None:
    s = Story()
    (task,) = s.post("acme", assignments=3)
    claims = [s.advance(MINUTE).claim(task, "wanda") for _ in range(3)]
    # claimed at T0 + 1, 2 and 3 min, all submitted at T0 + 4 min: 3, 2 and 1 min of work
    s.advance(MINUTE)
    subs = [s.submit(c) for c in claims]
    s.approve(subs[0])
    s.reject(subs[1])
    s.reject(subs[2])
    s.overturn(subs[2])
    assert power.worker_times(fold(s), "wanda") == {"work_ms": 6 * MINUTE, "unpaid_ms": 2 * MINUTE}
    s.overturn(subs[1])
    assert power.worker_times(fold(s), "wanda") == {"work_ms": 6 * MINUTE, "unpaid_ms": 0}
    assert fold(s).hgetall(power.work_key("wanda")) == {}  # paid work needs no detail


def test_pay_is_counted_per_worker_and_per_requester() -> None:
    s = Story()
    (a,) = s.post("acme", reward=1_000, fee=200)
    (z,) = s.post("zeta", reward=3_000, fee=600)
    s.approve(s.submit(s.claim(a, "wanda")))
    s.approve(s.submit(s.claim(z, "wanda")), automatic=True)
    s.bonus(a, "wanda", 500, 100)
    store = fold(s)
    assert figures(store, power.worker_key("wanda"))["paid:EUR"] == 4_500
    assert figures(store, power.paid_by_key("wanda")) == {"acme:EUR": 1_500, "zeta:EUR": 3_000}
    acme, zeta = (figures(store, power.requester_key(r)) for r in ("acme", "zeta"))
    assert (acme["spend:EUR"], acme["fees:EUR"]) == (1_800, 300)
    assert zeta["auto_approved"] == 1 and "auto_approved" not in acme


def test_requester_review_behaviour() -> None:
    s = Story()
    (task,) = s.post("acme", assignments=4, below_wage_floor=True)
    subs = [s.submit(s.claim(task, w)) for w in ("a", "b", "c", "d")]
    s.approve(subs[0])
    for sub in subs[1:]:
        s.reject(sub)
    s.dispute(subs[1])
    s.overturn(subs[1])
    got = figures(fold(s), power.requester_key("acme"))
    assert {k: got[k] for k in ("reviewed", "approved", "rejected", "disputed", "overturned")} == {
        "reviewed": 4, "approved": 1, "rejected": 3, "disputed": 1, "overturned": 1,
    }  # fmt: skip
    assert (got["posted"], got["below_floor"]) == (1, 1)


def test_time_to_pay_lands_in_log_spaced_buckets() -> None:
    s = Story()
    (task,) = s.post("acme", assignments=2)
    fast, slow = s.submit(s.claim(task, "a")), s.submit(s.claim(task, "b"))
    s.advance(MINUTE).approve(fast)
    s.advance(59 * MINUTE).approve(slow)
    store = fold(s)
    expected = {str(bucket(MINUTE)): 1, str(bucket(60 * MINUTE)): 1}
    assert figures(store, power.TTP) == expected == figures(store, power.ttp_key("acme"))


@pytest.mark.parametrize("ms", [0, 1, 2, 3, 7, 8, 1_000, 59_999, 60_000, 86_400_000, 2**40 + 5])
def test_a_bucket_holds_its_value_and_buckets_grow_by_at_most_a_quarter(ms: int) -> None:
    low, high = bucket_bounds(bucket(ms))
    assert low <= max(ms, 1) < high and high / low <= 1.25
    assert bucket(ms) <= bucket(ms + 1)


@pytest.mark.parametrize("seed", range(5))
def test_interleaving_partitions_differently_gives_the_same_sums(seed: int) -> None:
    # Kafka keeps order within a partition only; the views must not depend on the rest.
    records = full_story().records
    by_partition: dict[int, list] = {}
    for record in records:
        by_partition.setdefault(record[0], []).append(record)
    rng, mixed = random.Random(seed), []
    while by_partition:
        partition = rng.choice(sorted(by_partition))
        mixed.append(by_partition[partition].pop(0))
        by_partition = {p: rs for p, rs in by_partition.items() if rs}
    expected = fold_log(records, views=VIEWS).digest(power.PREFIX)
    assert fold_log(mixed, views=VIEWS, batch=7).digest(power.PREFIX) == expected


def test_redelivered_events_change_nothing() -> None:
    s = full_story()
    store = fold(s)
    before = store.digest(power.PREFIX)
    assert apply_batch(store, s.records, VIEWS) == 0
    assert store.digest(power.PREFIX) == before
