"""Platform policy: fees, wage floors and batch limits, with integer arithmetic only.

Defaults follow MTurk's published fees (20 % of reward and bonus, +20 % for tasks of ten
or more assignments) and statutory-style floors (Prolific's GBP 6/h, US federal $7.25/h).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from schemas.money import percent_of

WAGE_FLOOR_MODES = ("warn", "refuse")


def _default_floors() -> dict[str, int]:
    return {"EUR": 6_000_000, "USD": 7_250_000, "GBP": 6_000_000}


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    fee_bp: int = 2_000
    bulk_fee_bp: int = 2_000
    bulk_assignments: int = 10
    bonus_fee_bp: int = 2_000
    # micro-units per hour; a currency without a floor is never below it
    wage_floors: Mapping[str, int] = dataclasses.field(default_factory=_default_floors)
    wage_floor_mode: str = "warn"
    max_batch_tasks: int = 10_000

    def __post_init__(self) -> None:
        if self.wage_floor_mode not in WAGE_FLOOR_MODES:
            raise ValueError(f"wage_floor_mode must be one of {WAGE_FLOOR_MODES}")


def fee_for(policy: Policy, reward: int, assignments: int) -> int:
    """Platform fee per assignment, in micro-units."""
    bp = policy.fee_bp + (policy.bulk_fee_bp if assignments >= policy.bulk_assignments else 0)
    return percent_of(reward, bp)


def bonus_fee(policy: Policy, amount: int) -> int:
    return percent_of(amount, policy.bonus_fee_bp)


def implied_hourly(reward: int, estimated_seconds: int) -> int:
    """reward * 3600 / estimated_seconds, rounded half up, in micro-units per hour."""
    return (2 * reward * 3600 + estimated_seconds) // (2 * estimated_seconds)


def below_floor(policy: Policy, reward: int, estimated_seconds: int, currency: str) -> bool:
    floor = policy.wage_floors.get(currency)
    return floor is not None and implied_hourly(reward, estimated_seconds) < floor
