"""Task decisions about submissions: reviews, auto-approval, bonuses, disputes, overturns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.domain.account import Account
from broker.domain.context import PLATFORM, Context, require_owner, require_role, require_self
from broker.domain.errors import Refused
from broker.domain.policy import bonus_fee
from broker.domain.task_state import PENDING, REJECTED, Submission, Task, evolve_task
from schemas import commands as cmds
from schemas import events as ev
from schemas.ids import task_of_claim


def _submission(task: Task, submission_id: str) -> Submission:
    sub = task.submissions.get(submission_id)
    if sub is None:
        raise Refused("not_found", f"no submission {submission_id!r} on {task.task_id}")
    return sub


def _pending(task: Task, submission_id: str) -> Submission:
    sub = _submission(task, submission_id)
    if sub.status != PENDING:
        raise Refused("not_pending", f"submission {submission_id!r} is already {sub.status}")
    return sub


def _approved(task: Task, sid: str, sub: Submission, automatic: bool) -> ev.SubmissionApproved:
    return ev.SubmissionApproved(
        task.task_id,
        sid,
        sub.worker_id,
        task.requester_id,
        task.reward,
        task.fee,
        task.currency,
        sub.submitted_at,
        automatic,
    )


def decide_approve(task: Task, _: Account, cmd: cmds.ApproveSubmission, ctx: Context) -> list[Any]:
    require_owner(ctx, task.requester_id, cmd.requester_id)
    sub = _pending(task, cmd.submission_id)
    return [_approved(task, cmd.submission_id, sub, automatic=False)]


def decide_auto_approve(task: Task, _: Account, cmd: cmds.AutoApprove, ctx: Context) -> list[Any]:
    require_role(ctx, PLATFORM)
    sub = _pending(task, cmd.submission_id)
    if ctx.now < sub.auto_approve_at:
        raise Refused("not_due", f"auto-approval is due at {sub.auto_approve_at}")
    return [_approved(task, cmd.submission_id, sub, automatic=True)]


def decide_reject(task: Task, _: Account, cmd: cmds.RejectSubmission, ctx: Context) -> list[Any]:
    require_owner(ctx, task.requester_id, cmd.requester_id)
    sub = _pending(task, cmd.submission_id)
    return [
        ev.SubmissionRejected(
            task.task_id,
            cmd.submission_id,
            sub.worker_id,
            task.requester_id,
            cmd.reason,
            sub.submitted_at,
            task.unit,
            task.currency,
        )
    ]


def decide_bonus(task: Task, account: Account, cmd: cmds.GrantBonus, ctx: Context) -> list[Any]:
    require_owner(ctx, task.requester_id, cmd.requester_id)
    if not any(s.worker_id == cmd.worker_id for s in task.submissions.values()):
        raise Refused("no_submission", f"{cmd.worker_id} submitted nothing on {task.task_id}")
    fee = bonus_fee(ctx.policy, cmd.amount)
    available = account.available.get(task.currency, 0)
    if available < cmd.amount + fee:
        raise Refused("insufficient_funds", f"bonus and fee {cmd.amount + fee} > {available}")
    return [
        ev.BonusGranted(
            task.task_id,
            cmd.worker_id,
            task.requester_id,
            cmd.amount,
            fee,
            task.currency,
            cmd.reason,
        )
    ]


def _rejected(task: Task, submission_id: str) -> Submission:
    sub = _submission(task, submission_id)
    if sub.status != REJECTED:
        raise Refused("not_rejected", f"submission {submission_id!r} is {sub.status}")
    return sub


def decide_dispute(task: Task, _: Account, cmd: cmds.DisputeRejection, ctx: Context) -> list[Any]:
    require_self(ctx, "worker", cmd.worker_id)
    if _submission(task, cmd.submission_id).worker_id != cmd.worker_id:
        raise Refused("forbidden", "only the submitting worker may dispute its rejection")
    if _rejected(task, cmd.submission_id).disputed:
        raise Refused("already_disputed", f"submission {cmd.submission_id!r} is under dispute")
    return [ev.RejectionDisputed(task.task_id, cmd.submission_id, cmd.worker_id, cmd.reason)]


def decide_overturn(task: Task, _: Account, cmd: cmds.OverturnRejection, ctx: Context) -> list[Any]:
    # Binding even if it drives the requester's balance negative (see account.py).
    if ctx.actor_role != "operator":
        require_self(ctx, "requester", task.requester_id)
    sub = _rejected(task, cmd.submission_id)
    return [
        ev.RejectionOverturned(
            task.task_id,
            cmd.submission_id,
            sub.worker_id,
            task.requester_id,
            task.reward,
            task.fee,
            task.currency,
            ctx.actor_id,
        )
    ]


def decide_reviews(
    tasks: Mapping[str, Task], account: Account | None, cmd: cmds.ReviewSubmissions, ctx: Context
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Each item decided exactly as ApproveSubmission or RejectSubmission would, against
    the state the items before it leave (two items on one task see each other): the
    events of the accepted items, and one outcome per item in order. Only a command that
    is not the actor's own is refused as a whole."""
    require_self(ctx, "requester", cmd.requester_id)
    evolved: dict[str, Task] = {}
    events: list[Any] = []
    outcomes: list[dict[str, Any]] = []
    for item in cmd.items:
        task_id = task_of_claim(item.submission_id)
        task = evolved.get(task_id) or tasks.get(task_id)
        try:
            if task is None or account is None:
                raise Refused("not_found", f"no task {task_id!r}")
            if item.decision == "approve":
                single: Any = cmds.ApproveSubmission(task_id, item.submission_id, cmd.requester_id)
                decided = decide_approve(task, account, single, ctx)
            else:
                single = cmds.RejectSubmission(
                    task_id, item.submission_id, cmd.requester_id, item.reason
                )
                decided = decide_reject(task, account, single, ctx)
        except Refused as refusal:
            outcomes.append({"submission_id": item.submission_id, "ok": False,
                             "code": refusal.code, "message": refusal.message})  # fmt: skip
            continue
        for event in decided:
            task = evolve_task(task, event)
        evolved[task_id] = task
        events.extend(decided)
        outcomes.append({"submission_id": item.submission_id, "ok": True})
    return events, outcomes



def review_result(cmd: cmds.ReviewSubmissions, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """The reply's result of a ReviewSubmissions: every item's outcome, and the counts."""
    counts = {"approved": 0, "rejected": 0, "refused": 0}
    for item, outcome in zip(cmd.items, outcomes, strict=True):
        counts[{"approve": "approved", "reject": "rejected"}[item.decision]
               if outcome["ok"] else "refused"] += 1  # fmt: skip
    return {"results": outcomes, **counts}
