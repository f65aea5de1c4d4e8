"""Task decisions about claims: claim, release, lease expiry, submission."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.domain.account import Account
from broker.domain.context import PLATFORM, Context, require_role, require_self
from broker.domain.errors import Refused
from broker.domain.task_state import OPEN, Claim, Task
from schemas import commands as cmds
from schemas import events as ev
from schemas.ids import make_claim_id


def decide_claim(
    task: Task, _: Account, cmd: cmds.ClaimTask | cmds.ClaimSuite, ctx: Context
) -> list[Any]:
    require_self(ctx, "worker", cmd.worker_id)
    if task.status != OPEN or ctx.now >= task.expires_at:
        raise Refused("task_closed", f"task {task.task_id} takes no more claims")
    missing = sorted(set(task.qualifications) - set(cmd.qualifications))
    if missing:
        raise Refused("missing_qualification", f"the task requires {missing}")
    if cmd.worker_id in task.claimers:
        raise Refused("already_claimed_by_worker", f"{cmd.worker_id} already claimed this task")
    if task.free <= 0:
        raise Refused("no_free_assignment", f"all {task.assignments} assignments are taken")
    claim_id = make_claim_id(task.task_id, task.claim_count + 1)
    lease_expires_at = ctx.now + task.lease_seconds * 1000
    return [ev.TaskClaimed(task.task_id, claim_id, cmd.worker_id, lease_expires_at)]


def decide_claim_first(
    tasks: Mapping[str, Task], account: Account | None, cmd: cmds.ClaimTask, ctx: Context
) -> list[Any]:
    """Claim the first of the command's candidates this worker may claim, in their order.

    All candidates are tasks of one requester, so this is one decision on one partition:
    a task someone else just took costs a loop step, not a Kafka round trip. When none
    can be claimed, the refusal is the named task's (an alternative's reason may differ).
    """
    require_self(ctx, "worker", cmd.worker_id)
    first: Refused | None = None
    for task_id in cmd.candidates:
        task = tasks.get(task_id)
        try:
            if task is None or account is None:
                raise Refused("not_found", f"no task {task_id!r}")
            return decide_claim(task, account, cmd, ctx)
        except Refused as refusal:
            first = first or refusal
    assert first is not None  # candidates always hold the named task
    if not cmd.alternatives:
        raise first
    others = len(cmd.alternatives)
    raise Refused(first.code, f"{first.message}; none of {others} alternatives is free either")


def _live_claim(task: Task, claim_id: str, worker_id: str | None) -> Claim:
    claim = task.claims.get(claim_id)
    if claim is None:
        raise Refused("claim_not_live", f"claim {claim_id!r} is not live")
    if worker_id is not None and claim.worker_id != worker_id:
        raise Refused("forbidden", f"claim {claim_id!r} belongs to another worker")
    return claim


def _released_escrow(task: Task) -> int:
    # On an open task the slot returns to the pool and keeps its escrow.
    return 0 if task.status == OPEN else task.unit


def decide_release(task: Task, _: Account, cmd: cmds.ReleaseClaim, ctx: Context) -> list[Any]:
    require_self(ctx, "worker", cmd.worker_id)
    claim = _live_claim(task, cmd.claim_id, cmd.worker_id)
    return [
        ev.ClaimReleased(
            task.task_id,
            cmd.claim_id,
            claim.worker_id,
            claim.claimed_at,
            _released_escrow(task),
            task.currency,
        )
    ]


def decide_expire_claim(task: Task, _: Account, cmd: cmds.ExpireClaim, ctx: Context) -> list[Any]:
    require_role(ctx, PLATFORM)
    claim = _live_claim(task, cmd.claim_id, None)
    if ctx.now < claim.lease_expires_at:
        raise Refused("not_due", f"lease runs until {claim.lease_expires_at}")
    return [
        ev.ClaimExpired(
            task.task_id,
            cmd.claim_id,
            claim.worker_id,
            claim.claimed_at,
            _released_escrow(task),
            task.currency,
        )
    ]


def decide_submit(task: Task, _: Account, cmd: cmds.SubmitWork, ctx: Context) -> list[Any]:
    # Submitting on a live lease is allowed even after the task closed (as on MTurk).
    require_self(ctx, "worker", cmd.worker_id)
    claim = _live_claim(task, cmd.claim_id, cmd.worker_id)
    if ctx.now >= claim.lease_expires_at:
        raise Refused("lease_expired", f"lease ended at {claim.lease_expires_at}")
    return [
        ev.WorkSubmitted(
            task_id=task.task_id,
            claim_id=cmd.claim_id,
            submission_id=cmd.claim_id,
            worker_id=cmd.worker_id,
            answer=cmd.answer,
            claimed_at=claim.claimed_at,
            auto_approve_at=ctx.now + task.auto_approve_seconds * 1000,
        )
    ]
