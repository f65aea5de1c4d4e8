"""The task kinds of the seed article, and how a requester prices and describes a batch.

Pure: every draw takes a random.Random. Work times are virtual seconds, rewards integer
micro-units. The numbers are modelled on the sources in docs/SIMULATION.md, not fitted.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

MICRO = 1_000_000
HOUR = 3600
DAY = 24 * HOUR
# The broker's default floors (Policy): Prolific's GBP 6/h, its EUR twin, US federal $7.25/h.
WAGE_FLOORS = {"EUR": 6 * MICRO, "USD": 7_250_000, "GBP": 6 * MICRO}
MIN_LEASE_S = 30 * 60
BULK_ASSIGNMENTS = 10  # MTurk's extra 20 % fee starts at ten assignments
# The seed article's 13 EUR job: two hours of audio (the "estimate") that take 15 hours.
AUDIO_HOURS, TRANSCRIPTION_HOURS = 2, 15


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    """Log-normal by its median: work times and pay are skewed with long right tails."""
    return median * math.exp(rng.gauss(0.0, sigma))


@dataclass(frozen=True, slots=True)
class TaskKind:
    name: str
    share: float  # of the batches posted
    work_median_s: float  # actual work time of one assignment
    work_sigma: float
    batch_median: float  # tasks per batch
    qualification_sets: tuple[tuple[str, ...], ...]  # one is drawn per batch
    assignments: tuple[int, ...]  # drawn uniformly, unless the batch is a bulk one
    bulk_share: float  # batches asking for >= 10 assignments
    piece_rate: int | None  # the seed article's price for one task, if it quotes one
    title: str


KINDS: dict[str, TaskKind] = {
    k.name: k
    for k in (
        TaskKind("image_labelling", 0.30, 45, 0.6, 40, ((),), (1, 3, 3, 5), 0.05, None,
                 "Name the objects in a photo"),
        TaskKind("keyword_check", 0.20, 60, 0.5, 30, ((), ("fr",)), (1, 1, 2, 3), 0.05,
                 50_000, "Check the images and keywords of a shop page"),  # 5 euro-cents
        TaskKind("transcription", 0.10, 900, 1.0, 3, (("audio", "fr"), ("audio", "en")),
                 (1, 1, 2), 0.0, 13 * MICRO, "Transcribe an audio recording"),
        TaskKind("translation", 0.15, 240, 0.7, 20, (("ar", "en"), ("fr", "en")), (1, 1, 2),
                 0.0, 300, "Translate a product sheet"),  # 0.03 euro-cents
        TaskKind("survey", 0.15, 600, 0.6, 2, ((), ("en",)), (3, 5), 0.6, None,
                 "Answer a research survey"),
        TaskKind("sign_up", 0.10, 150, 0.5, 10, ((),), (1, 2, 3), 0.1, None,
                 "Sign up to a website and confirm the e-mail"),
    )
}


@dataclass(frozen=True, slots=True)
class PlannedTask:
    spec: dict[str, Any]  # a TaskSpec in plain form, as POST /v1/batches takes it
    work_s: float  # what it really takes a worker of speed 1.0


def _assignments(rng: random.Random, kind: TaskKind) -> int:
    if rng.random() < kind.bulk_share:
        return rng.randint(BULK_ASSIGNMENTS, 5 * BULK_ASSIGNMENTS)
    return rng.choice(kind.assignments)


def draw_batch(
    rng: random.Random,
    kind: TaskKind,
    size: int,
    currency: str,
    wage: float,
    optimism: float,
    auto_approve_s: int,
    piece_rated: bool,
) -> tuple[PlannedTask, ...]:
    """`size` tasks sharing one description and price, as a requester posts them.

    `wage` is the offered pay per *estimated* hour in wage floors; `optimism` is actual
    work time over the requester's estimate (> 1: the work takes longer than announced).
    A piece-rated batch uses the seed article's price whatever the work takes.
    """
    typical = lognormal(rng, kind.work_median_s, kind.work_sigma * 0.7)
    estimated = max(5, round(typical / optimism))
    # Requesters allot far more time than they estimate (an hour for a few minutes' work
    # is common); at least 30 minutes, so API latency at high clock speeds eats no lease.
    lease = max(MIN_LEASE_S, round(estimated * lognormal(rng, 5.0, 0.3)))
    if piece_rated and kind.piece_rate is not None:
        reward = kind.piece_rate
        if kind.name == "transcription":
            typical, estimated = TRANSCRIPTION_HOURS * HOUR, AUDIO_HOURS * HOUR
            lease = 2 * DAY  # long enough to do the 15 hours, so the 13 EUR can be earned
    else:
        reward = max(1, round(wage * WAGE_FLOORS[currency] * estimated / HOUR))
    base = {
        "kind": kind.name,
        "title": kind.title,
        "reward": reward,
        "currency": currency,
        "estimated_seconds": estimated,
        "assignments": _assignments(rng, kind),
        "lease_seconds": lease,
        "lifetime_seconds": rng.choice((1, 2, 3, 7)) * DAY,
        "auto_approve_seconds": auto_approve_s,
        "priority": rng.randint(1, 100) if rng.random() < 0.1 else 0,
        "qualifications": list(rng.choice(kind.qualification_sets)),
    }
    ref = rng.getrandbits(32)
    return tuple(
        PlannedTask(
            {**base, "payload": {"item": f"{kind.name}/{ref:08x}/{i}"}},
            max(5.0, typical * lognormal(rng, 1.0, 0.35)),
        )
        for i in range(size)
    )


def answer_for(kind: str, rng: random.Random) -> dict[str, Any]:
    """A small plausible answer; the broker stores it and never looks inside."""
    if kind == "survey":
        return {"responses": [rng.randint(1, 5) for _ in range(8)]}
    if kind == "image_labelling":
        return {"labels": rng.sample(["car", "tree", "person", "dog", "sign", "bike"], 2)}
    return {"text": f"{kind} answer {rng.getrandbits(24):06x}"}
