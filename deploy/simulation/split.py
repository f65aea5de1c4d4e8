"""Informed and uninformed workers side by side: what each requester got done and what each
kind of worker earned (docs/SIMULATION.md, "Informed workers").

Counts are what the simulated people saw through the API; wages are the broker's own, from
every worker's statement (GET /v1/me/statement) read when the run ends. Money in several
currencies is added at the wage floors' ratio and told in EUR ("EUR-eq"): a USD paid at
the USD floor counts as a EUR paid at the EUR floor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from consumers.power.stats import hourly_wage
from deploy.simulation.kinds import MICRO, WAGE_FLOORS

if TYPE_CHECKING:
    from deploy.simulation.plan import Plan

CLASSES = ("informed", "uninformed")


def eur_equivalent(amount: int, currency: str) -> int:
    """Micro-units of `currency` as micro-EUR at the wage floors' ratio."""
    return amount * WAGE_FLOORS["EUR"] // WAGE_FLOORS[currency]


@dataclass
class RequesterTally:
    profile: str
    claims: int = 0
    informed_claims: int = 0
    submissions: int = 0  # tasks done: work the broker accepted for review
    approvals: int = 0
    rejections: int = 0
    flag_seen_at: float | None = None  # epoch s an informed worker first saw the flag
    flagged_last: bool | None = None  # the flag in the latest listing showing its groups
    last_informed_claim_at: float | None = None  # epoch s the last informed claim was sent


@dataclass
class ClassTally:
    workers: int = 0
    claims: int = 0
    submissions: int = 0
    approvals: int = 0
    rejections: int = 0
    paid: int = 0  # EUR-eq micro-units, from the statements
    work_ms: int = 0
    unpaid_ms: int = 0
    pending_ms: int = 0  # submitted, not reviewed yet: in work_ms, not paid so far

    def to_json(self) -> dict[str, Any]:
        wage = hourly_wage(self.paid, self.work_ms) if self.work_ms else None
        return {**asdict(self), "effective_hourly_wage": wage,
                "unpaid_share": _ratio(self.unpaid_ms, self.work_ms),
                "pending_share": _ratio(self.pending_ms, self.work_ms)}


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass
class Split:
    share: float = 0.0
    prefix: str = ""
    group_listings: int = 0  # GET /v1/task-groups pages read
    group_claims: int = 0  # claims made by naming a group
    empty_group_claims: int = 0  # a chosen group had nothing left for this worker
    requesters: dict[str, RequesterTally] = field(default_factory=dict)
    classes: dict[str, ClassTally] = field(default_factory=lambda: {c: ClassTally()
                                                                    for c in CLASSES})

    def adopt(self, plan: Plan) -> None:
        self.prefix = plan.prefix
        self.share = round(plan.informed / len(plan.workers), 4) if plan.workers else 0.0
        self.requesters = {self.short(r.requester_id): RequesterTally(r.profile)
                           for r in plan.requesters}  # fmt: skip
        for w in plan.workers:
            self.of(w.informed).workers += 1

    def short(self, requester_id: str) -> str:
        return requester_id.removeprefix(self.prefix + "-")

    def of(self, informed: bool) -> ClassTally:
        return self.classes[CLASSES[0] if informed else CLASSES[1]]

    def requester(self, requester_id: str) -> RequesterTally | None:
        return self.requesters.get(self.short(requester_id))

    def count(self, requester_id: str, informed: bool, what: str) -> None:
        """One more `what` (claims, submissions, approvals, rejections) for both tallies."""
        tally = self.requester(requester_id)
        if tally is not None:
            setattr(tally, what, getattr(tally, what) + 1)
            if informed and what == "claims":
                tally.informed_claims += 1
        setattr(self.of(informed), what, getattr(self.of(informed), what) + 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "share": self.share,
            "workers": self.classes[CLASSES[0]].workers,
            "group_listings": self.group_listings,
            "group_claims": self.group_claims,
            "empty_group_claims": self.empty_group_claims,
            "by_requester": {k: asdict(v) for k, v in sorted(self.requesters.items())},
            "by_worker_class": {k: v.to_json() for k, v in self.classes.items()},
        }


def overall(split: dict[str, Any]) -> dict[str, Any]:
    """Both classes of workers together (a run with no informed workers has one class)."""
    classes = split["by_worker_class"].values()
    paid = sum(c["paid"] for c in classes)
    work = sum(c["work_ms"] for c in classes)
    unpaid = sum(c["unpaid_ms"] for c in classes)
    return {"workers": sum(c["workers"] for c in classes),
            "claims": sum(c["claims"] for c in classes),
            "effective_hourly_wage": hourly_wage(paid, work) if work else None,
            "unpaid_share": round(unpaid / work, 4) if work else None}  # fmt: skip


def wage_text(micro_per_hour: int | None) -> str:
    return "-" if micro_per_hour is None else f"{micro_per_hour / MICRO:.2f} EUR-eq/h"


def share_text(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def by_profile(split: dict[str, Any]) -> dict[str, dict[str, int]]:
    """The requesters' tallies added up per profile."""
    out: dict[str, dict[str, int]] = {}
    for tally in split["by_requester"].values():
        row = out.setdefault(tally["profile"], dict.fromkeys(
            ("requesters", "claims", "informed_claims", "submissions", "rejections"), 0))
        row["requesters"] += 1
        for name in ("claims", "informed_claims", "submissions", "rejections"):
            row[name] += tally[name]
    return out
