"""A realistic event log for replay benchmarks, decided by the real domain (no Kafka).

A small discrete-event simulation: requesters deposit and post batches, workers claim,
submit, release or let leases expire, requesters approve, reject or leave work to
auto-approval, some rejections are disputed and overturned, some work earns a bonus,
outbox credits reach wallets a little later, and wallets are paid out. Every command
goes through `Shard.decide` on the partition its key hashes to, as in production, and
every event is applied with `Shard.apply`, so the log is one the broker could write.
"""

from __future__ import annotations

import heapq
import random
from typing import Any

from kafka.partitioner.default import murmur2

from broker.domain.policy import Policy
from broker.domain.shard import Shard
from schemas import commands as c
from schemas.codec import encode_event_records
from schemas.envelope import CommandEnvelope, EventEnvelope
from schemas.positions import Positioned, offset_of, position

T0 = 1_700_000_000_000



class LogMaker:
    def __init__(self, seed: int = 7, partitions: int = 8, requesters: int = 40,
                 workers: int = 3_000) -> None:  # fmt: skip
        self.rng = random.Random(seed)
        self.shards = [Shard() for _ in range(partitions)]
        self.offsets = [0] * partitions
        self.records: list[Positioned] = []
        self.queue: list[tuple[int, int, CommandEnvelope]] = []
        self.policy = Policy()
        self.sent = 0
        self.workers = [f"w{i}" for i in range(workers)]
        for i in range(requesters):
            r = f"req{i}"
            self.at(T0 + i, "requester", r, c.DepositFunds(r, 50_000_000_000, "EUR"))
            self.at(T0 + 1_000 + i, "requester", r, c.PostTasks(r, "b0", self._specs()))

    def _specs(self) -> tuple[c.TaskSpec, ...]:
        rng = self.rng
        reward = rng.choice((300, 2_000, 10_000, 50_000, 150_000))
        return tuple(
            c.TaskSpec(kind=rng.choice(("image_labelling", "transcription", "survey")),
                       reward=reward, currency="EUR", estimated_seconds=rng.randint(20, 900),
                       assignments=rng.choice((1, 1, 3, 5)), payload={"item": i})
            for i in range(rng.randint(1, 20))
        )  # fmt: skip

    def at(self, when: int, role: str, actor: str, command: Any) -> None:
        self.sent += 1
        cid = f"cmd{self.sent}"
        self.push(when, CommandEnvelope(cid, actor, role, cid, command))

    def push(self, when: int, env: CommandEnvelope) -> None:
        heapq.heappush(self.queue, (when, self.sent, env))
        self.sent += 1

    def make(self, events: int) -> list[Positioned]:
        while self.queue and len(self.records) < events:
            now, _, env = heapq.heappop(self.queue)
            p = (murmur2(env.partition_key.encode()) & 0x7FFFFFFF) % len(self.shards)
            decision = self.shards[p].decide(env, now, self.policy)
            # One record per decision, as the processor writes (schemas.codec).
            for index, event in enumerate(decision.events):
                self.shards[p].apply(event)
                self.records.append((p, position(self.offsets[p], index), event))
            self.offsets[p] += bool(decision.events)
            for credit in decision.outbox:  # the outbox: delivered a moment later
                self.push(now + self.rng.randint(5, 500), credit)
            if decision.reply.accepted:
                self.react(now, env, decision.reply.result, p)
        return self.records[:events]

    def react(self, now: int, env: CommandEnvelope, result: dict[str, Any], p: int) -> None:
        rng, cmd = self.rng, env.command
        if isinstance(cmd, c.PostTasks):
            for task_id in result["task_ids"]:
                for _ in range(rng.randint(1, 6)):
                    w = rng.choice(self.workers)
                    self.at(now + rng.randint(1_000, 600_000), "worker", w, c.ClaimTask(task_id, w))
            batch = f"b{int(cmd.batch_id[1:]) + 1}"
            self.at(now + rng.randint(300_000, 3_600_000), "requester", cmd.requester_id,
                    c.PostTasks(cmd.requester_id, batch, self._specs()))  # fmt: skip
        elif isinstance(cmd, c.ClaimTask):
            self._after_claim(now, cmd, result)
        elif isinstance(cmd, c.SubmitWork):
            self._review(now, cmd, result)
        elif isinstance(cmd, c.RejectSubmission) and rng.random() < 0.3:
            reason = c.DisputeRejection(cmd.task_id, cmd.submission_id, self._worker_of(cmd, p),
                                        "the answer was right")  # fmt: skip
            self.at(now + rng.randint(60_000, 3_600_000), "worker", reason.worker_id, reason)
        elif isinstance(cmd, c.DisputeRejection) and rng.random() < 0.5:
            overturn = c.OverturnRejection(cmd.task_id, cmd.submission_id)
            self.at(now + rng.randint(60_000, 86_400_000), "operator", "olga", overturn)
        elif isinstance(cmd, c.CreditWorker):
            balance = self.shards[p].wallets[cmd.worker_id].balance.get("EUR", 0)
            if balance >= 100_000 and rng.random() < 0.3:
                payout = c.IssuePayout(cmd.worker_id, f"p{self.sent}", balance, "EUR")
                self.at(now + rng.randint(1_000, 60_000), "system", "payouts", payout)

    def _worker_of(self, cmd: Any, p: int) -> str:
        return self.shards[p].tasks[cmd.task_id].submissions[cmd.submission_id].worker_id

    def _after_claim(self, now: int, cmd: c.ClaimTask, result: dict[str, Any]) -> None:
        rng, claim, lease_end = self.rng, result["claim_id"], result["lease_expires_at"]
        fate = rng.random()
        if fate < 0.85:
            work = c.SubmitWork(cmd.task_id, claim, cmd.worker_id, {"label": rng.choice("abc")})
            self.at(now + rng.randint(10_000, lease_end - now - 1), "worker", cmd.worker_id, work)
        elif fate < 0.93:
            release = c.ReleaseClaim(cmd.task_id, claim, cmd.worker_id)
            self.at(now + rng.randint(5_000, 300_000), "worker", cmd.worker_id, release)
        else:
            self.at(lease_end + 1, "system", "timers", c.ExpireClaim(cmd.task_id, claim))

    def _review(self, now: int, cmd: c.SubmitWork, result: dict[str, Any]) -> None:
        rng, sid = self.rng, result["submission_id"]
        r = cmd.task_id.split(":", 1)[0]
        fate, later = rng.random(), now + rng.randint(30_000, 3_600_000)
        if fate < 0.70:
            self.at(later, "requester", r, c.ApproveSubmission(cmd.task_id, sid, r))
            if rng.random() < 0.05:
                bonus = c.GrantBonus(cmd.task_id, cmd.worker_id, r, 5_000, "great work")
                self.at(later + 1, "requester", r, bonus)
        elif fate < 0.85:
            self.at(later, "requester", r, c.RejectSubmission(cmd.task_id, sid, r, "wrong"))
        else:
            self.at(
                result["auto_approve_at"] + 1, "system", "timers", c.AutoApprove(cmd.task_id, sid)
            )


def make_log(events: int, seed: int = 7, partitions: int = 8) -> list[Positioned]:
    """(partition, position, event) records, in log order."""
    return LogMaker(seed, partitions).make(events)


def encode_log(log: list[Positioned]) -> list[tuple[int, int, bytes]]:
    """The Kafka records of a log: (partition, offset, value), a decision's events in one."""
    grouped: dict[tuple[int, int], list[EventEnvelope]] = {}
    for p, pos, env in log:
        grouped.setdefault((p, offset_of(pos)), []).append(env)
    return [(p, o, value) for (p, o), envs in grouped.items()
            for value in encode_event_records(envs)]  # fmt: skip
