"""Suites: many claims, submissions or releases of one worker on one requester's tasks,
decided in one step (all of a requester's tasks live on its partition).

Each item is decided exactly as its single command would be (claiming.py), against the
state the items before it leave, and answered on its own; only a command that is not the
worker's own is refused as a whole. A claim suite is the exception: it answers with its
claims, and is refused (with its first candidate's reason) only when it claimed nothing,
so the API can try other candidates, as claim-next does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from broker.domain.account import Account
from broker.domain.claiming import decide_claim, decide_release, decide_submit
from broker.domain.context import Context, require_self
from broker.domain.errors import Refused
from broker.domain.task_state import Task, evolve_task
from schemas import commands as cmds
from schemas import events as ev
from schemas.ids import task_of_claim

Outcomes = tuple[list[Any], dict[str, Any]]


def decide_claim_suite(
    tasks: Mapping[str, Task], account: Account | None, cmd: cmds.ClaimSuite, ctx: Context
) -> Outcomes:
    """Up to `count` TaskClaimed, on distinct candidates, in the candidates' order."""
    require_self(ctx, "worker", cmd.worker_id)
    events: list[Any] = []
    claims: list[dict[str, Any]] = []
    first: Refused | None = None
    for task_id in cmd.candidates:  # distinct (the command's rule): one claim per task
        task = tasks.get(task_id)
        try:
            if task is None or account is None:
                raise Refused("not_found", f"no task {task_id!r}")
            claimed = decide_claim(task, account, cmd, ctx)
        except Refused as refusal:
            first = first or refusal
            continue
        event: ev.TaskClaimed = claimed[0]
        events.append(event)
        claims.append({"task_id": task_id, "claim_id": event.claim_id,
                       "lease_expires_at": event.lease_expires_at, "reward": task.reward,
                       "currency": task.currency})  # fmt: skip
        if len(events) == cmd.count:
            break
    if not events:
        assert first is not None  # candidates are never empty
        others = len(cmd.candidates) - 1
        raise Refused(first.code, f"{first.message}" + (
            f"; none of {others} other candidates is free either" if others else ""))
    return events, {"claims": claims}


Single = Callable[[Task, Account, Any, Context], list[Any]]


def _per_item(tasks: Mapping[str, Task], account: Account | None, worker_id: str,
              claim_ids: list[str], single: Callable[[str, str], Any], decider: Single,
              ctx: Context) -> tuple[list[Any], list[tuple[str, Refused | Any]]]:  # fmt: skip
    """Each claim id decided by `decider` on the command `single(task_id, claim_id)` builds,
    against the state the items before it leave: (events, [(claim_id, event or Refused)])."""
    require_self(ctx, "worker", worker_id)
    evolved: dict[str, Task] = {}
    events: list[Any] = []
    answers: list[tuple[str, Refused | Any]] = []
    for claim_id in claim_ids:
        task_id = task_of_claim(claim_id)
        task = evolved.get(task_id) or tasks.get(task_id)
        try:
            if task is None or account is None:
                raise Refused("not_found", f"no task {task_id!r}")
            decided = decider(task, account, single(task_id, claim_id), ctx)
        except Refused as refusal:
            answers.append((claim_id, refusal))
            continue
        for event in decided:
            task = evolve_task(task, event)
        evolved[task_id] = task
        events.extend(decided)
        answers.append((claim_id, decided[0]))
    return events, answers


def _result(answers: list[tuple[str, Any]], ok: Callable[[Any], dict[str, Any]],
            counted: str) -> dict[str, Any]:  # fmt: skip
    results = []
    for claim_id, answer in answers:
        if isinstance(answer, Refused):
            results.append({"claim_id": claim_id, "ok": False, "code": answer.code,
                            "message": answer.message})  # fmt: skip
        else:
            results.append({"claim_id": claim_id, "ok": True, **ok(answer)})
    done = sum(r["ok"] for r in results)
    return {"results": results, counted: done, "refused": len(results) - done}


def decide_submit_suite(
    tasks: Mapping[str, Task], account: Account | None, cmd: cmds.SubmitSuite, ctx: Context
) -> Outcomes:
    answers = {item.claim_id: item.answer for item in cmd.items}

    def single(task_id: str, claim_id: str) -> cmds.SubmitWork:
        return cmds.SubmitWork(task_id, claim_id, cmd.worker_id, answers[claim_id])

    events, decided = _per_item(tasks, account, cmd.worker_id, list(answers), single,
                                decide_submit, ctx)  # fmt: skip
    return events, _result(decided, lambda e: {"submission_id": e.submission_id,
                                               "auto_approve_at": e.auto_approve_at},
                           "submitted")  # fmt: skip


def decide_release_suite(
    tasks: Mapping[str, Task], account: Account | None, cmd: cmds.ReleaseSuite, ctx: Context
) -> Outcomes:
    def single(task_id: str, claim_id: str) -> cmds.ReleaseClaim:
        return cmds.ReleaseClaim(task_id, claim_id, cmd.worker_id)

    events, decided = _per_item(tasks, account, cmd.worker_id, list(cmd.claim_ids), single,
                                decide_release, ctx)  # fmt: skip
    return events, _result(decided, lambda e: {"released_escrow": e.released_escrow},
                           "released")  # fmt: skip


SuiteDecider = Callable[[Mapping[str, Task], Account | None, Any, Context], Outcomes]
# The suite commands, for the shard's dispatch: each answers with its own result.
SUITE_DECIDERS: dict[type, SuiteDecider] = {
    cmds.ClaimSuite: decide_claim_suite,
    cmds.SubmitSuite: decide_submit_suite,
    cmds.ReleaseSuite: decide_release_suite,
}
