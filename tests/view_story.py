"""Given events, then view: a tiny story teller that writes a consistent event log.

It keeps just enough marketplace state (free assignments, claim and submission instants)
to fill every event field the way the broker would, then hands out (partition, offset,
envelope) records. Partitions follow the aggregate's owner, as on the real topic.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from schemas import events as ev
from schemas.envelope import EventEnvelope
from schemas.ids import make_claim_id, make_task_id, requester_of_task
from schemas.positions import Positioned

T0 = 1_700_000_000_000  # ms
PARTITIONS = 3


@dataclass
class _Task:
    posted: ev.TaskPosted
    free: int
    open: bool = True


class Story:
    def __init__(self, currency: str = "EUR") -> None:
        self.now = T0
        self.currency = currency
        self.records: list[Positioned] = []
        self.offsets: dict[int, int] = defaultdict(int)
        self.tasks: dict[str, _Task] = {}
        self.claims: dict[str, tuple[str, str, int]] = {}  # id -> task, worker, claimed_at
        self.subs: dict[str, tuple[str, str, int]] = {}  # id -> task, worker, submitted_at

    def advance(self, ms: int) -> Story:
        self.now += ms
        return self

    def emit(self, owner: str, event: Any) -> EventEnvelope:
        partition = zlib.crc32(owner.encode()) % PARTITIONS
        n = len(self.records)
        env = EventEnvelope(f"e{n}", owner, n + 1, self.now, f"c{n}", f"c{n}", "", owner, event)
        self.records.append((partition, self.offsets[partition], env))
        self.offsets[partition] += 1
        return env

    # --- requester account ------------------------------------------------------------

    def deposit(self, requester: str, amount: int) -> None:
        self.emit(requester, ev.FundsDeposited(requester, amount, self.currency))

    def post(self, requester: str, batch: str = "b1", count: int = 1, **terms: Any) -> list[str]:
        """A batch of `count` identical tasks; escrow covers reward and fee of each assignment."""
        spec: dict[str, Any] = dict(
            kind="image_labelling", title="", reward=50_000, fee=10_000, currency=self.currency,
            assignments=1, lease_seconds=900, expires_at=self.now + 86_400_000,
            auto_approve_seconds=3 * 86_400, estimated_seconds=30, priority=0,
            qualifications=(), payload={"url": "https://example.org/1.png"}, payload_ref=None,
            below_wage_floor=False,
        )  # fmt: skip
        spec.update(terms)
        escrow = (spec["reward"] + spec["fee"]) * spec["assignments"] * count
        self.emit(requester, ev.BatchPosted(requester, batch, count, escrow, self.currency))
        ids = []
        for index in range(count):
            task_id = make_task_id(requester, batch, index)
            posted = ev.TaskPosted(task_id=task_id, requester_id=requester, batch_id=batch, **spec)
            self.tasks[task_id] = _Task(posted, posted.assignments)
            self.emit(requester, posted)
            ids.append(task_id)
        return ids

    # --- task -----------------------------------------------------------------------------

    def _unit(self, task_id: str) -> int:
        posted = self.tasks[task_id].posted
        return posted.reward + posted.fee

    def claim(self, task_id: str, worker: str) -> str:
        claim_id = make_claim_id(task_id, len(self.claims))
        self.tasks[task_id].free -= 1
        self.claims[claim_id] = (task_id, worker, self.now)
        lease = self.now + self.tasks[task_id].posted.lease_seconds * 1000
        self.emit(requester_of_task(task_id), ev.TaskClaimed(task_id, claim_id, worker, lease))
        return claim_id

    def _end_claim(self, claim_id: str, kind: type) -> None:
        task_id, worker, claimed_at = self.claims[claim_id]
        task = self.tasks[task_id]
        # An open task takes the assignment back; a closed one returns its escrow.
        released = 0 if task.open else self._unit(task_id)
        task.free += 1 if task.open else 0
        event = kind(task_id, claim_id, worker, claimed_at, released, self.currency)
        self.emit(requester_of_task(task_id), event)

    def release(self, claim_id: str) -> None:
        self._end_claim(claim_id, ev.ClaimReleased)

    def expire_claim(self, claim_id: str) -> None:
        self._end_claim(claim_id, ev.ClaimExpired)

    def submit(self, claim_id: str, answer: object = "cat") -> str:
        task_id, worker, claimed_at = self.claims[claim_id]
        auto = self.now + self.tasks[task_id].posted.auto_approve_seconds * 1000
        self.subs[claim_id] = (task_id, worker, self.now)
        event = ev.WorkSubmitted(task_id, claim_id, claim_id, worker, answer, claimed_at, auto)
        self.emit(requester_of_task(task_id), event)
        return claim_id

    def approve(self, sub_id: str, automatic: bool = False) -> None:
        task_id, worker, submitted_at = self.subs[sub_id]
        p = self.tasks[task_id].posted
        self.emit(p.requester_id, ev.SubmissionApproved(
            task_id, sub_id, worker, p.requester_id, p.reward, p.fee, self.currency,
            submitted_at, automatic,
        ))  # fmt: skip

    def reject(self, sub_id: str, reason: str = "wrong") -> None:
        task_id, worker, submitted_at = self.subs[sub_id]
        p = self.tasks[task_id].posted
        self.emit(p.requester_id, ev.SubmissionRejected(
            task_id, sub_id, worker, p.requester_id, reason, submitted_at, self._unit(task_id),
            self.currency,
        ))  # fmt: skip

    def dispute(self, sub_id: str, reason: str = "it was right") -> None:
        task_id, worker, _ = self.subs[sub_id]
        self.emit(requester_of_task(task_id), ev.RejectionDisputed(task_id, sub_id, worker, reason))

    def overturn(self, sub_id: str, by: str = "olga") -> None:
        task_id, worker, _ = self.subs[sub_id]
        p = self.tasks[task_id].posted
        self.emit(p.requester_id, ev.RejectionOverturned(
            task_id, sub_id, worker, p.requester_id, p.reward, p.fee, self.currency, by
        ))  # fmt: skip

    def bonus(self, task_id: str, worker: str, amount: int, fee: int) -> None:
        requester = requester_of_task(task_id)
        event = ev.BonusGranted(task_id, worker, requester, amount, fee, self.currency, "thanks")
        self.emit(requester, event)

    def close(self, task_id: str, expired: bool = False) -> None:
        task = self.tasks[task_id]
        released, task.free, task.open = task.free * self._unit(task_id), 0, False
        kind = ev.TaskExpired if expired else ev.TaskCancelled
        self.emit(task.posted.requester_id, kind(task_id, task.posted.requester_id, released,
                                                 self.currency))  # fmt: skip

    # --- worker wallet --------------------------------------------------------------------

    def credit(self, worker: str, requester: str, task_id: str, amount: int) -> None:
        event = ev.WorkerCredited(worker, f"src{len(self.records)}", requester, task_id, amount,
                                  self.currency)  # fmt: skip
        self.emit(worker, event)

    def payout(self, worker: str, amount: int) -> None:
        payout_id = f"p{len(self.records)}"
        self.emit(worker, ev.PayoutIssued(worker, payout_id, amount, self.currency))


def full_story() -> Story:
    """Every event type at least once, across requesters, workers and partitions."""
    s = Story()
    s.deposit("acme", 5_000_000)
    s.deposit("zeta", 2_000_000)
    a = s.post("acme", "b1", count=3, assignments=2, priority=5)
    z = s.post("zeta", "b2", count=2, qualifications=("fr", "audio"), below_wage_floor=True)
    c1, c2 = s.advance(1_000).claim(a[0], "wanda"), s.claim(a[0], "walt")
    c3 = s.advance(2_000).claim(z[0], "wanda")
    s1 = s.advance(60_000).submit(c1, {"label": "cat"})
    s.advance(5_000).release(c2)
    s3 = s.advance(30_000).submit(c3)
    s.advance(120_000).approve(s1)
    s.credit("wanda", "acme", a[0], 50_000)
    s.reject(s3, "too short")
    s.advance(1_000).dispute(s3)
    s.advance(3_600_000).overturn(s3)
    s.credit("wanda", "zeta", z[0], 50_000)
    s.bonus(a[0], "wanda", 7_000, 1_400)
    s.credit("wanda", "acme", a[0], 7_000)
    c4 = s.claim(a[1], "walt")
    s.advance(900_000).expire_claim(c4)
    c5 = s.claim(a[1], "wanda")
    s.close(a[1])
    s.advance(10_000).release(c5)
    s.close(z[1], expired=True)
    s.payout("wanda", 80_000)
    return s
