"""Read side of the assignment queue: the best open tasks a worker may claim.

The queue is an index, not a promise: the task aggregate still decides each claim, so a
candidate may be refused (taken meanwhile); the client simply tries the next one.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from consumers.queue import SIGS, claimed_key, open_key
from consumers.store import Reader, Scored

MAX_ROUNDS = 12
PAGE_SLACK = 5  # a few already-claimed tasks at the head cost no second round


def satisfied(signatures: Iterable[str], qualifications: Iterable[str]) -> list[str]:
    held = set(qualifications)
    return sorted(s for s in signatures if not s or set(s.split(",")) <= held)


def candidates(
    reader: Reader, worker_id: str, worker_qualifications: Iterable[str], limit: int = 10
) -> list[str]:
    """Up to `limit` task ids, priority then age, that the worker qualifies for and never claimed.

    Reads a page of each eligible sorted set and merges them. The merged order is exact
    only up to the bound: the worst item read from the set that filled its page with the
    best last item (that set may hold better ones than other sets' tails). While claimed
    tasks leave fewer than `limit` under the bound, only the bounding set is read further,
    with pages growing fourfold. After MAX_ROUNDS the best found so far is returned.
    """
    if limit <= 0:
        return []
    keys = [open_key(s) for s in satisfied(reader.smembers(SIGS), worker_qualifications)]
    fetched: dict[str, list[Scored]] = {k: [] for k in keys}
    page = dict.fromkeys(keys, limit + PAGE_SLACK)
    more, reading = set(keys), keys  # sets that may hold more; sets to read this round
    claimed: dict[str, bool] = {}
    fresh: list[str] = []
    for _ in range(MAX_ROUNDS):
        windows = [(k, len(fetched[k]), len(fetched[k]) + page[k] - 1) for k in reading]
        for (key, _, _), items in zip(windows, reader.zrange_many(windows), strict=True):
            fetched[key].extend(items)
            if len(items) < page[key]:
                more.discard(key)
            page[key] *= 4
        bounding = min(more, key=lambda k: _rank(fetched[k][-1]), default=None)
        bound = _rank(fetched[bounding][-1]) if bounding else None
        merged = [m for m, s in heapq.merge(*fetched.values(), key=_rank)
                  if bound is None or (s, m) <= bound]  # fmt: skip
        unknown = [m for m in merged if m not in claimed]
        found = reader.smismember(claimed_key(worker_id), unknown)
        claimed.update(zip(unknown, found, strict=True))
        fresh = [m for m in merged if not claimed[m]]
        if len(fresh) >= limit or bounding is None:
            break
        reading = [bounding]
    return fresh[:limit]


def _rank(item: Scored) -> tuple[float, str]:
    # Redis orders equal scores by member, so (score, member) is the total order.
    member, score = item
    return score, member
