"""What the report replays beside the power view: work by week, by cause, by kind. Pure.

The power view keeps all-time sums, so a weekly series, unpaid time split by cause and
promised-against-realised wages per task kind need the log itself. `History` folds the
same records the report replays, once, in log order, and reads only the events' own
fields and instants (never a clock), so a file and the topic give the same figures.

Accounting is by **cohort**: a claim's work time belongs to the week its claim ended
(submitted, released or expired), and its fate (paid, rejected, still pending) is
followed to the end of what was read (`until`). Pay for a submission goes to the cohort
of its work; a bonus to the week it was granted. Only tasks posted in the report's
currency count, so work time here is per currency (the power view's is not).
Definitions: docs/METRICS.md, "The replayed figures".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from consumers.power.scorecard import wilson_interval
from consumers.power.stats import hourly_wage
from schemas import events as ev
from schemas.positions import Positioned, offset_of

DAY_MS = 86_400_000
CAUSES = ("rejected", "released", "expired")


def week_start(ms: int) -> int:
    """Monday 00:00 UTC of the week holding `ms` (epoch ms): 1970-01-01 was a Thursday."""
    day = ms // DAY_MS
    return (day - (day + 3) % 7) * DAY_MS


def in_window(at: int, since: int | None, until: int | None) -> bool:
    """since <= at <= until, either bound open when None (both inclusive, as audit --until)."""
    return (since is None or at >= since) and (until is None or at <= until)


@dataclass
class Sums:
    """Work and its fate for one cohort (a week, a requester, a kind)."""

    claims: int = 0
    work_ms: int = 0
    paid_ms: int = 0  # work of submissions approved or overturned
    rejected_ms: int = 0  # rejected and not overturned
    released_ms: int = 0
    expired_ms: int = 0
    pending_ms: int = 0  # submitted, not reviewed by the end of what was read
    paid: int = 0  # rewards of the cohort's submissions, plus bonuses granted in it
    reviewed: int = 0
    rejected: int = 0  # rejections, overturned or not (the platform rate's numerator)
    offered: int = 0  # reward x assignments of tasks posted in it
    offered_s: int = 0  # estimated seconds x assignments of those tasks

    def figures(self) -> dict[str, Any]:
        interval = wilson_interval(self.rejected, self.reviewed)
        unpaid = self.rejected_ms + self.released_ms + self.expired_ms
        return {
            "claims": self.claims, "work_ms": self.work_ms, "paid": self.paid,
            "paid_ms": self.paid_ms, "rejected_ms": self.rejected_ms,
            "released_ms": self.released_ms, "expired_ms": self.expired_ms,
            "pending_ms": self.pending_ms, "unpaid_ms": unpaid,
            "unpaid_share": _ratio(unpaid, self.work_ms),
            "effective_hourly_wage": hourly_wage(self.paid, self.work_ms) if self.work_ms else None,
            "promised_hourly_wage": (hourly_wage(self.offered, self.offered_s * 1000)
                                     if self.offered_s else None),
            "reviewed": self.reviewed, "rejected": self.rejected,
            "rejection_rate": _ratio(self.rejected, self.reviewed),
            "rejection_low": None if interval is None else round(interval[0], 6),
            "rejection_high": None if interval is None else round(interval[1], 6),
            "offered": self.offered, "offered_s": self.offered_s,
        }  # fmt: skip


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


@dataclass(slots=True)
class _Task:
    requester: str
    kind: str


@dataclass(slots=True)
class _Sub:
    task: str
    work_ms: int
    week: int
    state: str = "pending"  # pending, paid, rejected


@dataclass
class History:
    """One pass over the log: feed it every record (`observe` or `add`), then read it."""

    currency: str
    since: int | None = None
    until: int | None = None
    events: int = 0
    first_at: int | None = None
    last_at: int | None = None
    ends: dict[int, int] = field(default_factory=dict)  # partition -> last offset read + 1
    weeks: dict[int, Sums] = field(default_factory=lambda: defaultdict(Sums))
    by_requester: dict[str, Sums] = field(default_factory=lambda: defaultdict(Sums))
    by_kind: dict[str, Sums] = field(default_factory=lambda: defaultdict(Sums))
    _tasks: dict[str, _Task] = field(default_factory=dict)
    _subs: dict[tuple[str, str], _Sub] = field(default_factory=dict)
    # Tasks and submissions looked up and not found: a replay of the log in parallel
    # segments (audit/report_replay.py) is exact only if no other segment defines them.
    missed_tasks: set[str] = field(default_factory=set)
    missed_subs: set[tuple[str, str]] = field(default_factory=set)

    def observe(self, records: Iterable[Positioned]) -> Iterator[Positioned]:
        """Fold each record as it passes (so the power view's fold reads the same pass)."""
        for record in records:
            self.add(record)
            yield record

    def add(self, record: Positioned) -> None:
        partition, pos, env = record
        at = env.occurred_at
        if self.until is not None and at > self.until:
            return
        self.ends[partition] = max(self.ends.get(partition, 0), offset_of(pos) + 1)
        self.events += 1
        self.first_at = at if self.first_at is None else min(self.first_at, at)
        self.last_at = at if self.last_at is None else max(self.last_at, at)
        handler = _HANDLERS.get(type(env.event))
        if handler is not None:
            handler(self, env.event, at)

    # --- the cohorts a piece of work or money counts in ----------------------------------

    def _cohorts(self, task_id: str, week: int) -> Iterator[Sums]:
        task = self._tasks[task_id]
        yield self.weeks[week]
        yield self.by_requester[task.requester]
        yield self.by_kind[task.kind]

    def _ours(self, task_id: str) -> bool:
        if task_id in self._tasks:  # posted in the report's currency
            return True
        self.missed_tasks.add(task_id)
        return False

    def _sub(self, task_id: str, submission_id: str) -> _Sub | None:
        sub = self._subs.get((task_id, submission_id))
        if sub is None:
            self.missed_subs.add((task_id, submission_id))
        return sub

    def _posted(self, e: ev.TaskPosted, at: int) -> None:
        if e.currency != self.currency:
            return
        self._tasks[e.task_id] = _Task(e.requester_id, e.kind)
        if in_window(at, self.since, self.until):
            for sums in self._cohorts(e.task_id, week_start(at)):
                sums.offered += e.reward * e.assignments
                sums.offered_s += e.estimated_seconds * e.assignments

    def _ended(self, e: ev.ClaimReleased | ev.ClaimExpired, at: int) -> None:
        if not self._ours(e.task_id) or not in_window(at, self.since, self.until):
            return
        work = max(at - e.claimed_at, 0)
        cause = "released_ms" if isinstance(e, ev.ClaimReleased) else "expired_ms"
        for sums in self._cohorts(e.task_id, week_start(at)):
            sums.claims += 1
            sums.work_ms += work
            setattr(sums, cause, getattr(sums, cause) + work)

    def _submitted(self, e: ev.WorkSubmitted, at: int) -> None:
        if not self._ours(e.task_id) or not in_window(at, self.since, self.until):
            return
        sub = _Sub(e.task_id, max(at - e.claimed_at, 0), week_start(at))
        self._subs[e.task_id, e.submission_id] = sub
        for sums in self._cohorts(e.task_id, sub.week):
            sums.claims += 1
            sums.work_ms += sub.work_ms
            sums.pending_ms += sub.work_ms

    def _move(self, sub: _Sub, state: str, reward: int = 0) -> None:
        """A submission of the window changes fate: its work time moves between causes."""
        for sums in self._cohorts(sub.task, sub.week):
            old, new = f"{sub.state}_ms", f"{state}_ms"
            setattr(sums, old, getattr(sums, old) - sub.work_ms)
            setattr(sums, new, getattr(sums, new) + sub.work_ms)
            sums.paid += reward
        sub.state = state

    def _approved(self, e: ev.SubmissionApproved, at: int) -> None:
        sub = self._sub(e.task_id, e.submission_id)
        if sub is None or sub.state != "pending":
            return
        for sums in self._cohorts(sub.task, sub.week):
            sums.reviewed += 1
        self._move(sub, "paid", e.reward)

    def _rejected(self, e: ev.SubmissionRejected, at: int) -> None:
        sub = self._sub(e.task_id, e.submission_id)
        if sub is None or sub.state != "pending":
            return
        for sums in self._cohorts(sub.task, sub.week):
            sums.reviewed += 1
            sums.rejected += 1
        self._move(sub, "rejected")

    def _overturned(self, e: ev.RejectionOverturned, at: int) -> None:
        sub = self._sub(e.task_id, e.submission_id)
        if sub is not None and sub.state == "rejected":
            self._move(sub, "paid", e.reward)

    def _bonus(self, e: ev.BonusGranted, at: int) -> None:
        if self._ours(e.task_id) and e.currency == self.currency and in_window(
            at, self.since, self.until
        ):
            for sums in self._cohorts(e.task_id, week_start(at)):
                sums.paid += e.amount

    # --- what the report shows ------------------------------------------------------------

    def total(self) -> Sums:
        whole = Sums()
        for sums in self.weeks.values():
            for name in Sums.__dataclass_fields__:
                setattr(whole, name, getattr(whole, name) + getattr(sums, name))
        return whole

    def weekly(self) -> list[dict[str, Any]]:
        """One row per week from the first to the last with any activity, gaps as zeros."""
        if not self.weeks:
            return []
        first, last = min(self.weeks), max(self.weeks)
        return [{"week_start_ms": w, **self.weeks.get(w, Sums()).figures()}
                for w in range(first, last + 1, 7 * DAY_MS)]  # fmt: skip

    def unpaid_by_cause(self) -> list[dict[str, Any]]:
        t = self.total()
        rows = [(c, getattr(t, f"{c}_ms")) for c in CAUSES] + [("pending", t.pending_ms),
                                                               ("paid", t.paid_ms)]  # fmt: skip
        return [{"cause": c, "ms": ms, "share_of_work": _ratio(ms, t.work_ms)} for c, ms in rows]

    def promised(self, by: str) -> list[dict[str, Any]]:
        """Promised (reward / estimate) against realised wage per requester or per kind."""
        table = self.by_requester if by == "requester" else self.by_kind
        rows = []
        for name, sums in sorted(table.items()):
            f = sums.figures()
            promised, realised = f["promised_hourly_wage"], f["effective_hourly_wage"]
            rows.append({
                by: name, "promised_hourly_wage": promised, "realised_hourly_wage": realised,
                "realised_share_of_promised": (round(realised / promised, 6)
                                               if promised and realised is not None else None),
                "work_ms": sums.work_ms, "claims": sums.claims, "paid": sums.paid,
                "offered": sums.offered, "offered_s": sums.offered_s,
            })  # fmt: skip
        return rows

    def provenance(self) -> dict[str, Any]:
        return {
            "events": self.events, "first_event_ms": self.first_at, "last_event_ms": self.last_at,
            "since_ms": self.since, "until_ms": self.until,
            "end_offsets": {str(p): o for p, o in sorted(self.ends.items())},
        }  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "unpaid_by_cause": self.unpaid_by_cause(),
            "promised_vs_realised": {"by_requester": self.promised("requester"),
                                     "by_kind": self.promised("kind")},
            "weekly": self.weekly(),
        }  # fmt: skip


def merged(parts: Sequence[History]) -> History | None:
    """The History one pass over the parts' segments, in this order, would have left, or
    None when a segment looked up a task or submission another one holds (then only a
    serial pass gives the figures). Sums add up, instants take their extremes."""
    for i, part in enumerate(parts):
        for other in parts[:i] + parts[i + 1 :]:
            if part.missed_tasks & other._tasks.keys() or part.missed_subs & other._subs.keys():
                return None
    tasks = [p._tasks for p in parts]
    subs = [p._subs for p in parts]
    if len(set().union(*tasks)) != sum(map(len, tasks)) or len(set().union(*subs)) != sum(
        map(len, subs)
    ):  # a task posted, or a submission made, in two segments
        return None
    first = parts[0]
    out = History(first.currency, first.since, first.until)
    for part in parts:
        out.events += part.events
        for name in ("first_at", "last_at"):
            mine, theirs = getattr(out, name), getattr(part, name)
            pick = min if name == "first_at" else max
            setattr(out, name, theirs if mine is None else mine if theirs is None
                    else pick(mine, theirs))  # fmt: skip
        for p, end in part.ends.items():
            out.ends[p] = max(out.ends.get(p, 0), end)
        for mine, theirs in ((out.weeks, part.weeks), (out.by_requester, part.by_requester),
                             (out.by_kind, part.by_kind)):  # fmt: skip
            for key, sums in theirs.items():
                total = mine[key]
                for name in Sums.__dataclass_fields__:
                    setattr(total, name, getattr(total, name) + getattr(sums, name))
        out._tasks.update(part._tasks)
        out._subs.update(part._subs)
        out.missed_tasks |= part.missed_tasks
        out.missed_subs |= part.missed_subs
    return out


_HANDLERS: dict[type, Any] = {
    ev.TaskPosted: History._posted,
    ev.ClaimReleased: History._ended,
    ev.ClaimExpired: History._ended,
    ev.WorkSubmitted: History._submitted,
    ev.SubmissionApproved: History._approved,
    ev.SubmissionRejected: History._rejected,
    ev.RejectionOverturned: History._overturned,
    ev.BonusGranted: History._bonus,
}
