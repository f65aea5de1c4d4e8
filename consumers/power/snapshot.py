"""One read of the power view: per-worker and per-requester figures in one currency.

The reading half of the power report (consumers/power/figures.py computes from it). Keys
are found by one SCAN of the view and read in pipelined chunks (`Reader.hgetall_many`),
so the live Redis costs a few round trips per thousand workers. On a live store each key
is read atomically, but the whole is not a snapshot of one offset; a replay is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consumers.power.stats import hourly_wage
from consumers.stores.store import Reader
from consumers.views import power

CHUNK = 1_000  # workers per pipelined round trip


@dataclass(frozen=True, slots=True)
class Worker:
    id: str
    work_ms: int  # every finished claim: submitted, released or expired
    unpaid_ms: int  # released, expired, and rejected without overturn
    pending_ms: int  # submitted, not reviewed yet: neither paid nor unpaid so far
    paid: int  # rewards + bonuses + overturned rewards, in the report's currency
    top_paid: int  # of which from the requester that paid it most

    @property
    def wage(self) -> int | None:
        return hourly_wage(self.paid, self.work_ms) if self.work_ms > 0 else None


@dataclass(frozen=True, slots=True)
class Requester:
    id: str
    posted: int
    below_floor: int
    reviewed: int
    rejected: int
    disputed: int
    overturned: int
    spend: int  # rewards, bonuses and fees, in the report's currency
    fees: int
    # What its scorecard adds (consumers/power/scorecard.py): the work done on its tasks,
    # the terms it promised, its approvals and their time-to-pay histogram.
    work_ms: int = 0  # every finished claim on its tasks: submitted, released or expired
    unpaid_ms: int = 0  # released and expired claims
    claims: int = 0  # finished claims: submitted + released + expired
    approved: int = 0
    auto_approved: int = 0
    offered: int = 0  # reward x assignments posted, in the report's currency
    offered_s: int = 0  # estimated seconds x assignments of those tasks
    ttp: dict[int, int] = field(default_factory=dict)

    @property
    def paid(self) -> int:
        """What its workers were paid: rewards, bonuses, overturns (spend without fees)."""
        return self.spend - self.fees


@dataclass(frozen=True)
class PowerData:
    """Everything the report and its plots are computed from, read once."""

    currency: str
    workers: list[Worker]
    requesters: list[Requester]
    ttp: dict[int, int]  # time-to-pay histogram, bucket -> approvals
    platform: dict[str, int]


def collect(reader: Reader, currency: str) -> PowerData:
    """Read the power view once; money in `currency`, times across all currencies."""
    # One SCAN pass over the view, not one per key family: SCAN walks the whole DB each time.
    keys = reader.scan(power.PREFIX)
    return PowerData(
        currency,
        _workers(reader, keys, currency),
        _requesters(reader, _ids(keys, power.requester_key("")), currency),
        {int(k): int(v) for k, v in reader.hgetall(power.TTP).items()},
        {k: int(v) for k, v in reader.hgetall(power.PLATFORM).items()},
    )


def _ids(keys: list[str], prefix: str) -> list[str]:
    return [key[len(prefix) :] for key in keys if key.startswith(prefix)]


def _workers(reader: Reader, keys: list[str], currency: str) -> list[Worker]:
    present, found = set(keys), []
    ids = _ids(keys, power.worker_key(""))
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i : i + CHUNK]
        # Only keys the scan saw: most workers have no pending or rejected work to detail.
        wanted = [k for w in chunk for k in (power.worker_key(w), power.paid_by_key(w),
                                              power.work_key(w)) if k in present]  # fmt: skip
        hashes = dict(zip(wanted, reader.hgetall_many(wanted), strict=True))
        sets = [power.rejected_key(w) for w in chunk if power.rejected_key(w) in present]
        rejected = dict(zip(sets, reader.smembers_many(sets), strict=True))
        found += [_worker(w, hashes, rejected, currency) for w in chunk]
    return found


def _worker(w: str, hashes: dict[str, dict[str, str]], rejected: dict[str, set[str]],
            currency: str) -> Worker:  # fmt: skip
    sums, work = hashes.get(power.worker_key(w), {}), hashes.get(power.work_key(w), {})
    rejected_ms = sum(int(work.get(ref, 0)) for ref in rejected.get(power.rejected_key(w), ()))
    suffix = f":{currency}"
    by_requester = [int(v) for k, v in hashes.get(power.paid_by_key(w), {}).items()
                    if k.endswith(suffix)]  # fmt: skip
    return Worker(
        id=w,
        work_ms=int(sums.get("work_ms", 0)),
        unpaid_ms=int(sums.get("unpaid_ms", 0)) + rejected_ms,
        pending_ms=sum(int(v) for v in work.values()) - rejected_ms,
        paid=int(sums.get(f"paid:{currency}", 0)),
        top_paid=max(by_requester, default=0),
    )


def _requesters(reader: Reader, ids: list[str], currency: str) -> list[Requester]:
    found = []
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i : i + CHUNK]
        keys = [k for r in chunk for k in (power.requester_key(r), power.ttp_key(r))]
        hashes = reader.hgetall_many(keys)
        found += [requester_of(r, sums, ttp, currency)
                  for r, sums, ttp in zip(chunk, hashes[0::2], hashes[1::2], strict=True)]
    return found


def requester_of(r: str, sums: dict[str, str], ttp: dict[str, str], currency: str) -> Requester:
    """One requester's figures from its `requester:{r}` and `ttp:{r}` hashes."""
    n = {k: int(v) for k, v in sums.items()}
    return Requester(
        r, n.get("posted", 0), n.get("below_floor", 0), n.get("reviewed", 0),
        n.get("rejected", 0), n.get("disputed", 0), n.get("overturned", 0),
        n.get(f"spend:{currency}", 0), n.get(f"fees:{currency}", 0),
        work_ms=n.get("work_ms", 0), unpaid_ms=n.get("unpaid_ms", 0),
        claims=n.get("submitted", 0) + n.get("released", 0) + n.get("expired", 0),
        approved=n.get("approved", 0), auto_approved=n.get("auto_approved", 0),
        offered=n.get(f"offered:{currency}", 0), offered_s=n.get(f"offered_s:{currency}", 0),
        ttp={int(k): int(v) for k, v in ttp.items()},
    )  # fmt: skip


def read_requester(reader: Reader, r: str, currency: str) -> tuple[Requester, dict[str, int]]:
    """One requester's figures and the platform's sums (`platform`), in one round trip:
    what its scorecard is computed from. An unknown requester has all zeros."""
    sums, ttp, platform = reader.hgetall_many(
        [power.requester_key(r), power.ttp_key(r), power.PLATFORM])
    return requester_of(r, sums, ttp, currency), {k: int(v) for k, v in platform.items()}
