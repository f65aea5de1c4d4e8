"""Who is in the simulated marketplace and how they behave. Pure: draws take a Random.

Requesters follow one of three profiles (fair payers, exploitative, slow reviewers);
workers differ by country, skills, speed and reliability. Times are virtual seconds.
The parameters are modelled on the sources in docs/SIMULATION.md, not fitted to data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from deploy.simulation.kinds import DAY, HOUR, KINDS, lognormal


@dataclass(frozen=True, slots=True)
class RequesterProfile:
    name: str
    share: float  # of the requester population
    volume: float  # relative number of batches (low payers post more work: Hara et al.)
    wage_median: float  # offered pay per estimated hour, in wage floors
    wage_sigma: float
    optimism_median: float  # actual work time over the requester's own estimate
    reject_range: tuple[float, float]  # each requester's rejection probability, uniform
    thin_reason_share: float  # rejections given with a one-word reason
    review_median_s: float
    review_sigma: float
    auto_approve_s: int
    bonus_share: float  # approvals followed by a bonus
    piece_rate_share: float  # batches priced at the seed article's piece rates


PROFILES: dict[str, RequesterProfile] = {
    p.name: p
    for p in (
        RequesterProfile("fair", 0.40, 1.0, 1.15, 0.12, 1.05, (0.02, 0.04), 0.05,
                         30 * 60, 0.7, 3 * DAY, 0.06, 0.0),
        RequesterProfile("exploitative", 0.35, 2.5, 0.30, 0.50, 1.6, (0.20, 0.35), 0.70,
                         3 * HOUR, 0.8, 3 * DAY, 0.0, 0.5),
        # Reviews later than its auto-approval window most of the time: the timer pays.
        RequesterProfile("slow", 0.25, 1.0, 0.55, 0.40, 1.2, (0.03, 0.08), 0.30,
                         6 * HOUR, 0.6, 4 * HOUR, 0.02, 0.0),
    )
}
THIN_REASONS = ("bad", "wrong", "no", "poor quality", "rejected")
FULL_REASONS = (
    "Two of the five answers contradict the instructions (see section 2).",
    "The transcript skips the second speaker from 01:10 to 01:45.",
    "The answer was submitted in under ten seconds and fails the attention check.",
    "The keywords listed do not appear on the product page.",
)
DISPUTE_REASONS = (
    "I followed the instructions; please look again.",
    "The reason given does not say what was wrong.",
    "The task took far longer than announced and the work is complete.",
)
# (country, share, languages): MTurk's US and Indian majority, plus the article's francophones.
COUNTRIES = (
    ("US", 0.35, ("en",)), ("IN", 0.25, ("en",)), ("PH", 0.07, ("en",)),
    ("FR", 0.08, ("fr",)), ("MA", 0.05, ("fr", "ar")), ("GB", 0.05, ("en",)),
    ("KE", 0.05, ("en",)), ("VE", 0.05, ("es",)), ("DE", 0.05, ("en",)),
)
CURRENCIES = (("EUR", 0.6), ("USD", 0.3), ("GBP", 0.1))


@dataclass(frozen=True, slots=True)
class Requester:
    requester_id: str
    profile: str
    currency: str
    reject_p: float
    kinds: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Worker:
    worker_id: str
    country: str
    qualifications: tuple[str, ...]
    speed: float  # multiplies a task's work time (1.0 = typical)
    release_p: float  # gives the claim back after trying
    abandon_p: float  # goes silent: the lease expires
    dispute_p: float  # contests a rejection (more often when the reason is one word)
    search_median_s: float  # unpaid time finding the next task
    # Chooses task groups by requesters' scorecards (deploy/simulation/informed.py)
    # instead of taking the global best task.
    informed: bool = False


def _weighted(rng: random.Random, items: tuple, weights: list[float]):  # type: ignore[no-untyped-def]
    return rng.choices(items, weights)[0]


def draw_requester(rng: random.Random, requester_id: str, profile: str) -> Requester:
    p = PROFILES[profile]
    names = tuple(KINDS)
    kinds = {_weighted(rng, names, [KINDS[k].share for k in names]) for _ in range(3)}
    return Requester(
        requester_id,
        profile,
        _weighted(rng, tuple(c for c, _ in CURRENCIES), [w for _, w in CURRENCIES]),
        rng.uniform(*p.reject_range),
        tuple(sorted(kinds)),
    )


def requester_profiles(rng: random.Random, count: int) -> list[str]:
    """One of each profile first (so every run shows all three), then drawn by share."""
    names = tuple(PROFILES)
    drawn = [_weighted(rng, names, [PROFILES[n].share for n in names])
             for _ in range(max(0, count - len(names)))]
    return [*names[:count], *drawn]


def draw_worker(rng: random.Random, worker_id: str) -> Worker:
    country, _, languages = _weighted(rng, COUNTRIES, [s for _, s, _ in COUNTRIES])
    skills = set(languages)
    if "en" not in skills and rng.random() < 0.5:
        skills.add("en")
    if rng.random() < 0.3:
        skills.add("audio")
    flaky = rng.random() < 0.2
    return Worker(
        worker_id,
        country,
        tuple(sorted(skills)),
        lognormal(rng, 1.0, 0.3),
        0.10 if flaky else 0.02,
        0.06 if flaky else 0.005,
        rng.uniform(0.1, 0.5),
        lognormal(rng, 30.0, 0.5),
    )


@dataclass(frozen=True, slots=True)
class ClaimOutcome:
    action: str  # "submit" | "release" | "abandon"
    work_s: float  # virtual seconds spent before acting (paid or not)


def claim_outcome(rng: random.Random, worker: Worker, task_work_s: float) -> ClaimOutcome:
    work = task_work_s * worker.speed * lognormal(rng, 1.0, 0.2)
    u = rng.random()
    if u < worker.abandon_p:
        return ClaimOutcome("abandon", work * rng.uniform(0.1, 1.0))
    if u < worker.abandon_p + worker.release_p:
        return ClaimOutcome("release", work * rng.uniform(0.1, 0.6))
    return ClaimOutcome("submit", work)


@dataclass(frozen=True, slots=True)
class Review:
    approve: bool
    reason: str  # empty for an approval
    thin: bool  # a one-word reason nobody can act on
    delay_s: float  # submission to review
    bonus_share: float  # of the reward, 0.0 for no bonus


def review(rng: random.Random, profile: RequesterProfile, reject_p: float) -> Review:
    delay = lognormal(rng, profile.review_median_s, profile.review_sigma)
    if rng.random() < reject_p:
        thin = rng.random() < profile.thin_reason_share
        reason = rng.choice(THIN_REASONS if thin else FULL_REASONS)
        return Review(False, reason, thin, delay, 0.0)
    bonus = rng.uniform(0.1, 0.5) if rng.random() < profile.bonus_share else 0.0
    return Review(True, "", False, delay, bonus)


def disputes(rng: random.Random, worker: Worker, thin: bool) -> bool:
    return rng.random() < min(1.0, worker.dispute_p * (2.0 if thin else 1.0))


def overturns(rng: random.Random, thin: bool) -> bool:
    """The operator's ruling: a rejection nobody explained rarely survives a dispute."""
    return rng.random() < (0.6 if thin else 0.15)


def reaction_s(rng: random.Random, median_s: float) -> float:
    """Delay before a dispute or a ruling."""
    return lognormal(rng, median_s, 0.8)
