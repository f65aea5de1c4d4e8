"""Plain-language captions of the report's charts: what each shows, with its figures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from consumers.power.report.fmt import duration, number, pct, per_hour
from consumers.power.scorecard import MIN_REVIEWS

Rows = Sequence[dict[str, Any]]


def _hours(ms: int) -> str:
    return f"{ms / 3_600_000:,.1f} h"


def captions(r: dict[str, Any], funnel: Rows, fate: Rows, promised: Rows, weeks: Rows,
             top_decile: float | None) -> dict[str, str]:  # fmt: skip
    c, wage, ttp = r["currency"], r["effective_hourly_wage"], r["time_to_pay_seconds"]
    floor = per_hour(r["wage_floor_per_hour"], c)
    flagged = [f["requester"] for f in funnel if f["flagged"]]
    causes = {f["cause"]: f for f in fate}
    unpaid = sum(causes[k]["ms"] for k in ("rejected", "released", "expired") if k in causes)
    below_promise = [p["requester"] for p in promised
                     if p["realised_share_of_promised"] is not None
                     and p["realised_share_of_promised"] < 0.5]  # fmt: skip
    rated = [w for w in weeks if w["work_ms"]]
    return {
        "wage": f"{pct(r['share_below_floor'])} of workers earn less than the floor of {floor} "
        f"once unpaid time is counted. Each bar counts workers by pay divided by all their work "
        f"time, including work that was rejected, given back or timed out "
        f"({pct(r['unpaid_work_ratio'], 0)} of all work time earned nothing). Half the workers "
        f"earn less than {per_hour(wage['median'], c)}; one in ten less than "
        f"{per_hour(wage['p10'], c)}.",
        "rejections": f"Each dot is a requester: the share of reviewed work it rejected "
        f"against how many reviews that rests on, with its 95 % Wilson interval. Small "
        f"requesters scatter widely by chance, hence the funnel. The short black bar at each "
        f"requester is the limit the outlier flag uses for it: the rejection rate of the rest "
        f"of the platform plus 3 standard errors at its number of reviews; requesters with "
        f"fewer than {MIN_REVIEWS} reviews are not judged. Red: above its limit "
        f"({', '.join(flagged) or 'none'}). The platform rejects "
        f"{pct(r['rejection_rate']['platform'])} of reviewed work; "
        f"{r['overturned']['count']} rejections were overturned.",
        "fate": f"Where the work time went, for work finished in the window and followed to its "
        f"end: {_hours(unpaid)} earned nothing. Rejected: "
        f"{pct(causes.get('rejected', {}).get('share_of_work'))} (the requester kept the work "
        f"without paying), released by the worker: "
        f"{pct(causes.get('released', {}).get('share_of_work'))}, expired (the lease ran out): "
        f"{pct(causes.get('expired', {}).get('share_of_work'))}; still awaiting review: "
        f"{pct(causes.get('pending', {}).get('share_of_work'))}.",
        "promised": "Each dot is a requester: what its tasks promised (reward over the "
        "estimated time it stated) against what its workers earned (pay over all work time on "
        "its tasks, work still awaiting review included). Below the diagonal, the estimate "
        "was too short or work went unpaid. "
        + (f"Realised under half the promise: {', '.join(below_promise)}. " if below_promise
           else "")
        + "The table below gives the same per task kind.",
        "weekly": f"{len(rated)} week(s) of work. Each week counts the claims that ended in it "
        f"and follows their fate to the end of the window, so the last weeks may still have "
        f"work awaiting review. The band around the rejection rate is its 95 % Wilson "
        f"interval: wide when a week holds few reviews.",
        "ttp": f"How long workers wait between handing in work and its approval, when the money "
        f"becomes theirs: half are approved within {duration(ttp['p50'])}, 95 % within "
        f"{duration(ttp['p95'])} (over {ttp['approvals']:,} approvals). Work never reviewed is "
        f"approved automatically when its deadline passes.",
        "lorenz": f"Follow the curve: the lowest-earning x % of workers share y % of all pay; "
        f"the straight diagonal is everyone earning the same. The gap is the Gini "
        f"({number(r['gini'], 2)}: 0 is equal pay, 1 is one worker earning everything). "
        f"The top 10 % of workers take {pct(top_decile, 0)} of pay.",
    }
