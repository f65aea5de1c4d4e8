"""Reads behind a requester's scorecard and a worker's statement: one round trip each to
the views, then the pure computations of consumers/power (scorecard.py, statement.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from consumers.power.scorecard import scorecard
from consumers.power.snapshot import read_requester, requester_of
from consumers.power.statement import statement
from consumers.stores.store import Reader
from consumers.views import ledger, power


def requester_scorecard(reader: Reader, requester_id: str, currency: str) -> dict[str, Any]:
    requester, platform = read_requester(reader, requester_id, currency)
    return scorecard(requester, platform.get("reviewed", 0), platform.get("rejected", 0),
                     currency)  # fmt: skip


def scorecards(reader: Reader, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """(requester, currency) -> its scorecard, for many requesters in one round trip."""
    pairs = sorted(set(wanted))
    requesters = sorted({r for r, _ in pairs})
    keys = [k for r in requesters for k in (power.requester_key(r), power.ttp_key(r))]
    found = reader.hgetall_many([*keys, power.PLATFORM])
    platform = {k: int(v) for k, v in found[-1].items()}
    sums = dict(zip(requesters, found[0:-1:2], strict=True))
    ttps = dict(zip(requesters, found[1:-1:2], strict=True))
    return {(r, c): scorecard(requester_of(r, sums[r], ttps[r], c), platform.get("reviewed", 0),
                              platform.get("rejected", 0), c)
            for r, c in pairs}  # fmt: skip


def worker_statement(reader: Reader, worker_id: str, currency: str) -> dict[str, Any]:
    by, work, paid_by, account = reader.hgetall_many([
        power.by_requester_key(worker_id), power.work_key(worker_id),
        power.paid_by_key(worker_id), ledger.worker_key(worker_id, currency)])
    rejected = reader.smembers(power.rejected_key(worker_id))
    return statement(worker_id, currency, by, work, rejected, paid_by, account)
