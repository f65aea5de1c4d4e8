"""Words and tables for the informed split (split.py): one run's split in a few lines, and
two runs of one seed, without and with informed workers, side by side. Pure: summaries'
JSON in, text out."""

from __future__ import annotations

from typing import Any

from deploy.simulation.split import by_profile, overall, share_text, wage_text

PROFILE_ORDER = ("exploitative", "slow", "fair")


def _class_line(name: str, c: dict[str, Any]) -> str:
    return (f"{name} workers ({c['workers']}): {c['claims']:,} claims, effective wage "
            f"{wage_text(c['effective_hourly_wage'])}, unpaid {share_text(c['unpaid_share'])}")


def split_lines(summary: dict[str, Any]) -> list[str]:
    """One run: each kind of worker, then who did each profile's work."""
    split = summary["informed"]
    classes = split["by_worker_class"]
    lines = [_class_line("informed", classes["informed"]) + f" ({split['group_claims']:,} "
             f"from groups, {split['group_listings']:,} listings)",
             _class_line("uninformed", classes["uninformed"])]  # fmt: skip
    profiles = by_profile(split)
    for name in PROFILE_ORDER:
        p = profiles.get(name)
        if p:
            by_informed = p["informed_claims"] / p["claims"] if p["claims"] else None
            lines.append(f"{name} requesters ({p['requesters']}): {p['submissions']:,} tasks "
                         f"done, {p['rejections']:,} rejections, {share_text(by_informed)} of "
                         f"their claims by informed workers")  # fmt: skip
    tallies = split["by_requester"]

    def named(keys: list[str]) -> str:
        return ", ".join(f"{k} ({tallies[k]['profile']})" for k in keys) or "none"

    at_end = sorted(k for k, v in tallies.items() if v["flagged_last"])
    for_a_while = sorted(k for k, v in tallies.items()
                         if v["flag_seen_at"] and not v["flagged_last"])  # fmt: skip
    lines.append(f"rejection outliers as informed workers last saw them: {named(at_end)}"
                 + (f"; flagged for a while: {named(for_a_while)}" if for_a_while else ""))
    return lines


def _change(before: int | None, after: int | None) -> str:
    if not before or after is None:
        return ""
    return f"{(after - before) / before:+.0%}"


def comparison(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, ...]]:
    """Rows (figure, before, after, change) for two runs of one seed; requesters are matched
    by their id within the run (r00, r01, ...), which the seed fixes."""
    b, a = before["informed"], after["informed"]
    rows: list[tuple[str, ...]] = []
    for key in sorted(set(b["by_requester"]) | set(a["by_requester"])):
        rb, ra = b["by_requester"].get(key, {}), a["by_requester"].get(key, {})
        who = f"{key} {ra.get('profile') or rb.get('profile')}"
        for figure, name in (("tasks done", "submissions"), ("rejections", "rejections")):
            x, y = rb.get(name), ra.get(name)
            rows.append((f"{who}: {figure}", f"{x:,}" if x is not None else "-",
                         f"{y:,}" if y is not None else "-", _change(x, y)))  # fmt: skip
    wb, wa = overall(b), overall(a)
    rows.append(("all workers: wage", wage_text(wb["effective_hourly_wage"]),
                 wage_text(wa["effective_hourly_wage"]),
                 _change(wb["effective_hourly_wage"], wa["effective_hourly_wage"])))
    rows.append(("all workers: unpaid share", share_text(wb["unpaid_share"]),
                 share_text(wa["unpaid_share"]), ""))
    for name in ("informed", "uninformed"):
        cb, ca = b["by_worker_class"][name], a["by_worker_class"][name]
        rows.append((f"{name} ({cb['workers']}/{ca['workers']} workers): wage",
                     wage_text(cb["effective_hourly_wage"]),
                     wage_text(ca["effective_hourly_wage"]), ""))
    rows.append(("claims from groups", f"{b['group_claims']:,}", f"{a['group_claims']:,}", ""))
    return rows
