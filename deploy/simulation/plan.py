"""From a seed to a marketplace timeline: the population and every batch, when it is posted.

Pure and reproducible: the same arguments give an equal Plan. What the broker then does
with it (which worker wins which claim) depends on timing; each actor's own decisions
come from its own seeded stream (`Plan.rng_for`), so they repeat as far as timing allows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from deploy.simulation.kinds import KINDS, PlannedTask, draw_batch, lognormal
from deploy.simulation.model import (
    PROFILES,
    Requester,
    Worker,
    draw_requester,
    draw_worker,
    requester_profiles,
)

MAX_BATCH = 500  # one PostTasks chunk: task ids then map one-to-one onto the plan
MAX_BATCHES = 3_000
# Workers are bound by API round trips at high clock speeds: no point planning more
# assignments than about this many claims per worker and wall second.
CLAIMS_PER_WORKER_SECOND = 10
POSTING_WINDOW = 0.8  # of the horizon; later batches would have no time to be worked
# A long job counts for at most this much of the work budget, so that a few 15-hour
# transcriptions (which few workers qualify for) do not crowd out the rest of the market.
BUDGET_CAP_S = 3600.0


@dataclass(frozen=True, slots=True)
class PlannedBatch:
    at_s: float  # virtual seconds after the start
    requester_id: str
    batch_id: str
    tasks: tuple[PlannedTask, ...]

    @property
    def assignments(self) -> int:
        return sum(t.spec["assignments"] for t in self.tasks)

    @property
    def cost_bound(self) -> int:
        """Escrow plus the largest fees (20 % + 20 % bulk) plus room for bonuses."""
        return sum(t.spec["reward"] * t.spec["assignments"] for t in self.tasks) * 3 // 2 + 1


@dataclass(frozen=True)
class Plan:
    seed: int
    horizon_s: float
    requesters: tuple[Requester, ...]
    workers: tuple[Worker, ...]
    batches: tuple[PlannedBatch, ...]
    prefix: str = "sim"

    def rng_for(self, stream: str) -> random.Random:
        """An actor's own decision stream, independent of how others interleave. Keyed by
        the actor's id without the run's prefix: the same seed draws the same decisions
        whatever the run id, so two runs of one seed can be compared pair by pair."""
        return random.Random(f"{self.seed}/{stream.removeprefix(self.prefix + '-')}")

    @property
    def informed(self) -> int:
        return sum(w.informed for w in self.workers)

    def deposit_for(self, requester_id: str) -> int:
        return sum(b.cost_bound for b in self.batches if b.requester_id == requester_id) or 1

    @property
    def tasks(self) -> int:
        return sum(len(b.tasks) for b in self.batches)


def make_plan(
    seed: int,
    horizon_s: float,
    requesters: int,
    workers: int,
    *,
    wall_s: float | None = None,
    load: float = 1.0,
    prefix: str = "sim",
    informed_share: float = 0.0,
    run_qualification: str | None = None,
) -> Plan:
    """Batches are drawn until their work fills `load` times the workers' capacity.

    `informed_share` of the workers choose task groups by scorecard; which ones is drawn
    from a stream of its own, so every share plays the same market with the same people.
    `run_qualification`, if given, is required by every task and held by every worker:
    runs on a shared stack then never take each other's work."""
    rng = random.Random(seed)
    people = tuple(
        draw_requester(rng, f"{prefix}-r{i:02d}", profile)
        for i, profile in enumerate(requester_profiles(rng, requesters))
    )
    crowd = _cover_skills([draw_worker(rng, f"{prefix}-w{i:03d}") for i in range(workers)])
    work_budget = workers * horizon_s * load
    claim_budget = workers * (wall_s or horizon_s) * CLAIMS_PER_WORKER_SECOND * load
    weights = [PROFILES[r.profile].volume for r in people]
    drawn: list[tuple[Requester, tuple[PlannedTask, ...]]] = []
    work = claims = 0.0
    while people and len(drawn) < MAX_BATCHES and (
        len(drawn) < len(people) or (work < work_budget and claims < claim_budget)
    ):
        # Everyone posts once, then by volume until the workers' capacity is covered.
        requester = people[len(drawn)] if len(drawn) < len(people) else rng.choices(
            people, weights)[0]
        tasks = _batch(rng, requester)
        drawn.append((requester, tasks))
        work += sum(min(t.work_s, BUDGET_CAP_S) * t.spec["assignments"] for t in tasks)
        claims += sum(t.spec["assignments"] for t in tasks)
    batches = _schedule(rng, drawn, horizon_s)
    crowd = _inform(random.Random(f"{seed}/informed"), crowd, informed_share)
    if run_qualification:
        crowd, batches = _isolate(run_qualification, crowd, batches)
    return Plan(seed, horizon_s, people, crowd, batches, prefix)


def _inform(rng: random.Random, crowd: tuple[Worker, ...], share: float) -> tuple[Worker, ...]:
    """round(share x workers) of them informed; a larger share keeps a smaller one's."""
    order = sorted(range(len(crowd)), key=lambda _: rng.random())
    chosen = set(order[:round(max(0.0, min(1.0, share)) * len(crowd))])
    return tuple(replace(w, informed=i in chosen) for i, w in enumerate(crowd))


def _isolate(qualification: str, crowd: tuple[Worker, ...], batches: tuple[PlannedBatch, ...]
             ) -> tuple[tuple[Worker, ...], tuple[PlannedBatch, ...]]:  # fmt: skip
    workers = tuple(replace(w, qualifications=tuple(sorted({*w.qualifications, qualification})))
                    for w in crowd)  # fmt: skip
    tagged = tuple(replace(b, tasks=tuple(
        replace(t, spec={**t.spec, "qualifications": sorted({*t.spec["qualifications"],
                                                             qualification})})
        for t in b.tasks)) for b in batches)  # fmt: skip
    return workers, tagged


def _cover_skills(crowd: list[Worker]) -> tuple[Worker, ...]:
    """Make sure someone can do every kind of work: if nobody holds a qualification set,
    the next worker in line learns it (few workers must not leave tasks unreachable)."""
    needed = sorted({q for kind in KINDS.values() for q in kind.qualification_sets if q})
    teacher = 0
    for skills in needed:
        if crowd and not any(set(skills) <= set(w.qualifications) for w in crowd):
            w = crowd[teacher % len(crowd)]
            crowd[teacher % len(crowd)] = replace(
                w, qualifications=tuple(sorted({*w.qualifications, *skills})))
            teacher += 1
    return tuple(crowd)


def _batch(rng: random.Random, requester: Requester) -> tuple[PlannedTask, ...]:
    profile = PROFILES[requester.profile]
    kind = KINDS[rng.choice(requester.kinds)]
    size = min(MAX_BATCH, max(1, round(lognormal(rng, kind.batch_median, 1.0))))
    return draw_batch(
        rng,
        kind,
        size,
        requester.currency,
        wage=lognormal(rng, profile.wage_median, profile.wage_sigma),
        optimism=lognormal(rng, profile.optimism_median, 0.25),
        auto_approve_s=profile.auto_approve_s,
        piece_rated=rng.random() < profile.piece_rate_share,
    )


def _schedule(
    rng: random.Random, drawn: list[tuple[Requester, tuple[PlannedTask, ...]]], horizon_s: float
) -> tuple[PlannedBatch, ...]:
    """Each requester's first batch at 0 (work from the start), the rest uniform over the
    posting window: a Poisson process conditioned on its count."""
    seen: set[str] = set()
    timed = []
    for requester, tasks in drawn:
        first = requester.requester_id not in seen
        seen.add(requester.requester_id)
        at = 0.0 if first else rng.uniform(0.0, POSTING_WINDOW * horizon_s)
        timed.append((at, requester.requester_id, tasks))
    counts: dict[str, int] = {}
    batches = []
    for at, requester_id, tasks in sorted(timed, key=lambda t: t[0]):
        n = counts[requester_id] = counts.get(requester_id, 0) + 1
        batches.append(PlannedBatch(at, requester_id, f"b{n:04d}", tasks))
    return tuple(batches)
