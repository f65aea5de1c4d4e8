"""The simulated marketplace is reproducible, valid, and behaves as its profiles declare."""

from __future__ import annotations

import random
import statistics

import msgpack
import pytest

from broker.domain.policy import implied_hourly
from deploy.simulation.kinds import AUDIO_HOURS, BULK_ASSIGNMENTS, MICRO, WAGE_FLOORS
from deploy.simulation.model import (
    PROFILES,
    THIN_REASONS,
    claim_outcome,
    draw_requester,
    draw_worker,
    review,
)
from deploy.simulation.plan import MAX_BATCH, make_plan
from schemas.commands import TaskSpec
from schemas.fields import from_plain

DRAWS = 10_000


def _plan(seed: int = 7, speed: float = 600, duration: float = 120, **kw):  # type: ignore[no-untyped-def]
    return make_plan(seed, duration * speed, 6, 40, wall_s=duration, **kw)


def test_same_seed_gives_the_same_plan_and_another_seed_another():
    assert _plan(7) == _plan(7)
    assert _plan(7) != _plan(8)
    assert _plan(7, prefix="a").batches[0].tasks == _plan(7, prefix="a").batches[0].tasks


def test_actor_streams_are_seeded_and_independent_of_each_other():
    plan = _plan()
    first = [plan.rng_for("sim-w001").random() for _ in range(3)]
    assert first == [plan.rng_for("sim-w001").random() for _ in range(3)]
    assert plan.rng_for("sim-w002").random() != first[0]


@pytest.mark.parametrize(("seed", "speed", "duration"), [(1, 1, 120), (7, 600, 20), (9, 3600, 60)])
def test_every_planned_task_is_a_valid_task_spec(seed, speed, duration):
    plan = _plan(seed, speed, duration)
    assert plan.batches
    for batch in plan.batches:
        assert 1 <= len(batch.tasks) <= MAX_BATCH
        for task in batch.tasks:
            spec = from_plain(TaskSpec, task.spec)
            assert spec.lease_seconds >= 10 and task.work_s > 0
            assert len(msgpack.packb(task.spec["payload"])) < 16 * 1024
        assert len({t.spec["currency"] for t in batch.tasks}) == 1


def test_batch_ids_are_unique_per_requester_and_every_requester_posts_at_start():
    plan = _plan()
    ids = [(b.requester_id, b.batch_id) for b in plan.batches]
    assert len(ids) == len(set(ids))
    starters = {b.requester_id for b in plan.batches if b.at_s == 0}
    assert starters == {r.requester_id for r in plan.requesters}
    assert all(b.at_s <= plan.horizon_s for b in plan.batches)


def test_the_plan_holds_bulk_tasks_and_the_seed_articles_piece_rates():
    specs = [t.spec for seed in range(5) for b in _plan(seed, 3600, 120).batches for t in b.tasks]
    assert any(s["assignments"] >= BULK_ASSIGNMENTS for s in specs)
    assert any(s["kind"] == "translation" and s["reward"] == 300 for s in specs)
    article = [s for s in specs if s["kind"] == "transcription" and s["reward"] == 13 * MICRO]
    assert article and all(s["estimated_seconds"] == AUDIO_HOURS * 3600 for s in article)


def test_deposits_cover_escrow_with_the_bulk_fee():
    plan = _plan()
    for r in plan.requesters:
        escrow = sum(t.spec["reward"] * 14 // 10 * t.spec["assignments"]
                     for b in plan.batches if b.requester_id == r.requester_id for t in b.tasks)
        assert plan.deposit_for(r.requester_id) >= escrow


def _hourly_vs_floor(profile: str) -> list[float]:
    """Offered pay per *estimated* hour, in wage floors, across many plans."""
    ratios = []
    for seed in range(20):
        plan = _plan(seed, 600, 60)
        owners = {r.requester_id for r in plan.requesters if r.profile == profile}
        for b in plan.batches:
            if b.requester_id in owners:
                s = b.tasks[0].spec
                hourly = implied_hourly(s["reward"], s["estimated_seconds"])
                ratios.append(hourly / WAGE_FLOORS[s["currency"]])
    return ratios


def test_fair_payers_offer_the_floor_and_exploitative_ones_far_less():
    fair, low = _hourly_vs_floor("fair"), _hourly_vs_floor("exploitative")
    assert sum(r >= 0.95 for r in fair) / len(fair) > 0.85
    assert statistics.median(low) < 0.5


def _reviews(profile: str, seed: int = 1) -> tuple[list, float]:  # type: ignore[type-arg]
    rng = random.Random(seed)
    requester = draw_requester(rng, "r", profile)
    return [review(rng, PROFILES[profile], requester.reject_p) for _ in range(DRAWS)], \
        requester.reject_p


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_exploitative_requesters_reject_a_fifth_to_a_third_often_thinly(seed):
    reviews, _ = _reviews("exploitative", seed)
    rejected = [r for r in reviews if not r.approve]
    assert 0.19 <= len(rejected) / DRAWS <= 0.36
    thin = [r for r in rejected if r.thin]
    assert len(thin) / len(rejected) > 0.5
    assert all(r.reason in THIN_REASONS for r in thin)


def test_fair_payers_approve_about_97_percent_and_review_within_hours():
    reviews, _ = _reviews("fair")
    assert 0.955 <= sum(r.approve for r in reviews) / DRAWS <= 0.985
    assert statistics.median(r.delay_s for r in reviews) < 3600
    assert any(r.bonus_share > 0 for r in reviews)


def test_slow_reviewers_mostly_leave_it_to_auto_approval():
    reviews, _ = _reviews("slow")
    late = sum(r.delay_s > PROFILES["slow"].auto_approve_s for r in reviews) / DRAWS
    assert 0.6 <= late <= 0.9


def test_workers_release_or_abandon_as_their_reliability_says():
    rng = random.Random(5)
    workers = [draw_worker(rng, f"w{i}") for i in range(200)]
    flaky = [w for w in workers if w.release_p > 0.05]
    assert 0.1 <= len(flaky) / len(workers) <= 0.3
    outcomes = [claim_outcome(rng, flaky[0], 100.0) for _ in range(DRAWS)]
    released = [o for o in outcomes if o.action == "release"]
    assert 0.08 <= len(released) / DRAWS <= 0.12
    assert 0.04 <= sum(o.action == "abandon" for o in outcomes) / DRAWS <= 0.08
    assert max(o.work_s for o in released) < max(o.work_s for o in outcomes
                                                   if o.action == "submit")


@pytest.mark.parametrize("workers", [1, 3, 40])
def test_some_worker_qualifies_for_every_qualification_set_planned(workers):
    plan = make_plan(7, 3600, 6, workers)
    held = [set(w.qualifications) for w in plan.workers]
    for batch in plan.batches:
        needed = set(batch.tasks[0].spec["qualifications"])
        assert any(needed <= h for h in held), needed
