"""Open task groups a worker qualifies for, sorted and cursor-paged, each with its
requester's scorecard (consumers/views/task_groups.py, consumers/power/scorecard.py).

A page reads every open group of the qualification sets the worker holds (one ZRANGE per
set, one pipelined HGETALL per group), then sorts: groups are few (one per requester and
set of terms, not per task), and a requester's measured wage, one of the sort keys, is
not in the view. The cursor is the (sort key, group id) of the last group served, as in
consumers/queries/listings.py: the next page starts strictly after it, so a group whose
key did not change is never served twice or skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from consumers.power.stats import hourly_wage
from consumers.queries.listings import BadQuery, Cursor, encode_cursor
from consumers.queries.power_query import scorecards
from consumers.queries.queue_query import satisfied
from consumers.stores.store import Reader
from consumers.views.task_groups import SIGS, meta_key, open_key

SORTS = ("reward_per_hour", "requester_wage", "newest")
DEFAULT_SORT = "reward_per_hour"
_LAST = 2**53 - 1  # where a group with no figure to sort by goes: after every other
_INTS = ("reward", "estimated_seconds", "posted_at", "free", "open_tasks")


def parse_sort(text: str | None) -> str:
    if not text:
        return DEFAULT_SORT
    if text not in SORTS:
        raise BadQuery(f"sort must be one of {', '.join(SORTS)}")
    return text


def group_row(gid: str, meta: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {name: int(meta.get(name, 0)) for name in _INTS}
    quals = meta.get("qualifications", "")
    row.update(group_id=gid, requester_id=meta.get("requester_id", ""),
               kind=meta.get("kind", ""), currency=meta.get("currency", ""),
               qualifications=quals.split(" ") if quals else [])  # fmt: skip
    row["free_assignments"] = row.pop("free")
    seconds = row["estimated_seconds"]
    row["reward_per_hour"] = hourly_wage(row["reward"], seconds * 1000) if seconds > 0 else None
    return row


def open_groups(reader: Reader, qualifications: Iterable[str]) -> list[dict[str, Any]]:
    """Every group with a free assignment whose qualifications the worker all holds."""
    keys = [open_key(s) for s in satisfied(reader.smembers(SIGS), qualifications)]
    gids = sorted({g for found in reader.zrange_many([(k, 0, -1) for k in keys])
                   for g, _ in found})  # fmt: skip
    metas = reader.hgetall_many([meta_key(g) for g in gids])
    return [group_row(g, m) for g, m in zip(gids, metas, strict=True)
            if int(m.get("free", 0)) > 0]  # fmt: skip


def _key(row: dict[str, Any], sort: str) -> int:
    """Ascending key of the descending order asked for; no figure sorts last."""
    if sort == "newest":
        value = row["posted_at"]
    elif sort == "reward_per_hour":
        value = row["reward_per_hour"]
    else:
        value = row["requester"]["effective_hourly_wage"]["value"]
    return _LAST if value is None else max(-_LAST, min(_LAST - 1, -value))


def groups_page(reader: Reader, qualifications: Iterable[str], sort: str,
                cursor: Cursor | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """A page of open groups, best first by `sort`, each with its requester's scorecard
    (in the group's currency); and the next page's cursor (None on the last page)."""
    rows = open_groups(reader, qualifications)
    cards = scorecards(reader, {(r["requester_id"], r["currency"]) for r in rows})
    for row in rows:
        row["requester"] = cards[(row["requester_id"], row["currency"])]
    ranked = sorted(((_key(r, sort), r["group_id"]), r) for r in rows)  # ids are unique
    if cursor is not None:
        ranked = [item for item in ranked if item[0] > cursor]
    after = encode_cursor(*ranked[limit - 1][0]) if len(ranked) > limit else None
    return [r for _, r in ranked[:limit]], after
