"""The task aggregate: decide_task dispatches each command to one small decision.

State and fold live in task_state.py; claim decisions in claiming.py; review, bonus and
dispute decisions in reviewing.py. Cancel and expiry, which close the task, are here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from broker.domain import claiming, reviewing
from broker.domain.account import Account
from broker.domain.context import PLATFORM, Context, require_owner, require_role
from broker.domain.errors import Refused
from broker.domain.task_state import OPEN, TASK_EVENTS, Claim, Submission, Task, evolve_task
from schemas import commands as cmds
from schemas import events as ev

__all__ = [
    "TASK_COMMANDS",
    "TASK_EVENTS",
    "Claim",
    "Submission",
    "Task",
    "decide_task",
    "evolve_task",
]


def _require_open(task: Task) -> None:
    if task.status != OPEN:
        raise Refused("task_closed", f"task {task.task_id} is {task.status}")


def decide_cancel(task: Task, _: Account, cmd: cmds.CancelTask, ctx: Context) -> list[Any]:
    require_owner(ctx, task.requester_id, cmd.requester_id)
    _require_open(task)
    released = task.free * task.unit
    return [ev.TaskCancelled(task.task_id, task.requester_id, released, task.currency)]


def decide_expire(task: Task, _: Account, cmd: cmds.ExpireTask, ctx: Context) -> list[Any]:
    require_role(ctx, PLATFORM)
    _require_open(task)
    if ctx.now < task.expires_at:
        raise Refused("not_due", f"task expires at {task.expires_at}")
    released = task.free * task.unit
    return [ev.TaskExpired(task.task_id, task.requester_id, released, task.currency)]


Decider = Callable[[Task, Account, Any, Context], list[Any]]
_DECIDERS: dict[type, Decider] = {
    cmds.ClaimTask: claiming.decide_claim,
    cmds.ReleaseClaim: claiming.decide_release,
    cmds.ExpireClaim: claiming.decide_expire_claim,
    cmds.SubmitWork: claiming.decide_submit,
    cmds.ApproveSubmission: reviewing.decide_approve,
    cmds.RejectSubmission: reviewing.decide_reject,
    cmds.AutoApprove: reviewing.decide_auto_approve,
    cmds.GrantBonus: reviewing.decide_bonus,
    cmds.DisputeRejection: reviewing.decide_dispute,
    cmds.OverturnRejection: reviewing.decide_overturn,
    cmds.CancelTask: decide_cancel,
    cmds.ExpireTask: decide_expire,
}
TASK_COMMANDS = frozenset(_DECIDERS)


def decide_task(task: Task, account: Account, command: Any, ctx: Context) -> list[Any]:
    """Events for `command` on `task` (its requester's `account` backs bonuses), or Refused."""
    decider = _DECIDERS.get(type(command))
    if decider is None:
        raise Refused("unknown_command", f"{type(command).__name__} is not a task command")
    return decider(task, account, command, ctx)
