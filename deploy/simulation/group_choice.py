"""Which task group an informed worker takes: pure, from the groups and their requesters'
scorecards as GET /v1/task-groups serves them (docs/SIMULATION.md, "Informed workers").

An informed worker reads the scorecards the way a Turkopticon reader reads reviews: it
does not work for a requester the platform flags as a rejection outlier, it skips
requesters whose measured wage is below a quarter of the wage floor, and among the rest
it prefers the best measured wage. Requesters without enough reviews for a figure come
after every measured one, best announced pay first: unknown is not bad, but it is not
known to be good either. Wages are compared in wage floors, so a USD and a EUR
requester are ranked on the same scale. The flag is read as it is now, not remembered: the
outlier test can flag a fair requester for a while early on, when few reviews are in, and
a worker holding that against it for good would punish noise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from deploy.simulation.kinds import WAGE_FLOORS

MIN_WAGE_SHARE = Fraction(1, 4)  # of the currency's wage floor (EUR 1.50/h)
FLAGGED, LOW_WAGE, ACCEPTED = "flagged", "low_wage", "accepted"


def _floors(value: int | None, currency: str) -> Fraction | None:
    floor = WAGE_FLOORS.get(currency)
    return None if value is None or not floor else Fraction(value, floor)


def flagged(group: dict[str, Any]) -> bool:
    return (group.get("requester") or {}).get("rejection_outlier", {}).get("flagged") is True


def measured_wage(group: dict[str, Any]) -> Fraction | None:
    """The requester's effective hourly wage in wage floors; None without enough reviews."""
    figure = (group.get("requester") or {}).get("effective_hourly_wage") or {}
    if figure.get("status") != "ok":
        return None
    return _floors(figure.get("value"), group.get("currency", ""))


def verdict(group: dict[str, Any], min_wage_share: Fraction = MIN_WAGE_SHARE) -> str:
    """FLAGGED, LOW_WAGE or ACCEPTED."""
    if flagged(group):
        return FLAGGED
    wage = measured_wage(group)
    return LOW_WAGE if wage is not None and wage < min_wage_share else ACCEPTED


@dataclass(frozen=True, slots=True)
class Choice:
    ranked: tuple[dict[str, Any], ...]  # the accepted groups, best first
    flagged: frozenset[str]  # requesters flagged in this listing
    low_wage: frozenset[str]  # requesters skipped for their measured wage


def choose(groups: Iterable[dict[str, Any]],
           min_wage_share: Fraction = MIN_WAGE_SHARE) -> Choice:  # fmt: skip
    """Rank the groups an informed worker would claim from, best first."""
    accepted, flags, low = [], set(), set()
    for group in groups:
        said = verdict(group, min_wage_share)
        if said == FLAGGED:
            flags.add(group["requester_id"])
        elif said == LOW_WAGE:
            low.add(group["requester_id"])
        elif said == ACCEPTED:
            accepted.append(group)

    def key(group: dict[str, Any]) -> tuple[int, Fraction, str]:
        wage = measured_wage(group)
        if wage is not None:
            return (0, -wage, group["group_id"])
        offered = _floors(group.get("reward_per_hour"), group.get("currency", ""))
        return (1, -(offered or Fraction(0)), group["group_id"])

    return Choice(tuple(sorted(accepted, key=key)), frozenset(flags), frozenset(low))
