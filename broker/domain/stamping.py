"""From decided events to what the processor writes: envelopes, outbox credits, reply result.

Every id is derived from the command id, so a retried command can only mint the same ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from broker.domain.account import ACCOUNT_EVENTS
from broker.domain.task_state import TASK_EVENTS
from broker.domain.wallet import WALLET_EVENTS
from schemas import events as ev
from schemas.commands import CreditWorker
from schemas.envelope import CommandEnvelope, EventEnvelope

SYSTEM_ACTOR = "piecework"
MAX_COMMAND_ID = 200  # decode_command refuses longer ids


def aggregate_of(event: Any) -> str:
    """The aggregate an event belongs to: requester:<id>, task:<task_id> or worker:<id>."""
    kind = type(event)
    if kind in ACCOUNT_EVENTS:
        return f"requester:{event.requester_id}"
    if kind in TASK_EVENTS:
        return f"task:{event.task_id}"
    if kind in WALLET_EVENTS:
        return f"worker:{event.worker_id}"
    raise ValueError(f"{kind.__name__} belongs to no aggregate")


def stamp(
    events: Sequence[Any], cmd: CommandEnvelope, now: int, version_of: Callable[[str], int]
) -> tuple[EventEnvelope, ...]:
    """Wrap events; each sequence continues its aggregate's version in decision order."""
    last: dict[str, int] = {}
    stamped = []
    for i, event in enumerate(events):
        agg = aggregate_of(event)
        last[agg] = (last[agg] if agg in last else version_of(agg)) + 1
        stamped.append(
            EventEnvelope(
                event_id=f"{cmd.command_id}/{i}",
                aggregate_id=agg,
                sequence=last[agg],
                occurred_at=now,
                command_id=cmd.command_id,
                correlation_id=cmd.correlation_id,
                causation_id=cmd.command_id,
                actor_id=cmd.actor_id,
                event=event,
            )
        )
    return tuple(stamped)


def credit_command_id(event_id: str) -> str:
    """credit:<event id>, or a digest of it when that would exceed the codec's limit."""
    plain = f"credit:{event_id}"
    if len(plain) <= MAX_COMMAND_ID:
        return plain
    return f"credit:sha256:{hashlib.sha256(event_id.encode()).hexdigest()}"


def credits(envelopes: Sequence[EventEnvelope]) -> tuple[CommandEnvelope, ...]:
    """One CreditWorker per event that owes a worker money, caused by that event."""
    outbox = []
    for env in envelopes:
        field = ev.OWED_FIELD.get(type(env.event))
        if field is None:
            continue
        e = env.event
        credit = CreditWorker(
            e.worker_id, env.event_id, e.requester_id, e.task_id, getattr(e, field), e.currency
        )
        outbox.append(
            CommandEnvelope(
                command_id=credit_command_id(env.event_id),
                actor_id=SYSTEM_ACTOR,
                actor_role="system",
                correlation_id=env.correlation_id,
                command=credit,
                causation_id=env.event_id,
            )
        )
    return tuple(outbox)


def _posted(events: Sequence[Any]) -> dict[str, Any]:
    batch, tasks = events[0], events[1:]
    return {
        "batch_id": batch.batch_id,
        "task_ids": [t.task_id for t in tasks],
        "escrow": batch.escrow,
        "currency": batch.currency,
        "below_wage_floor": sum(t.below_wage_floor for t in tasks),
    }


_RESULTS: dict[type, Callable[[Sequence[Any]], dict[str, Any]]] = {
    ev.BatchPosted: _posted,
    ev.TaskClaimed: lambda es: {
        "task_id": es[0].task_id,  # one of the command's alternatives, maybe
        "claim_id": es[0].claim_id,
        "lease_expires_at": es[0].lease_expires_at,
    },
    ev.WorkSubmitted: lambda es: {
        "submission_id": es[0].submission_id,
        "auto_approve_at": es[0].auto_approve_at,
    },
    ev.BonusGranted: lambda es: {"fee": es[0].fee},
    ev.ClaimReleased: lambda es: {"released_escrow": es[0].released_escrow},
    ev.ClaimExpired: lambda es: {"released_escrow": es[0].released_escrow},
    ev.TaskCancelled: lambda es: {"released_escrow": es[0].released_escrow},
    ev.TaskExpired: lambda es: {"released_escrow": es[0].released_escrow},
}


def result_of(events: Sequence[Any]) -> dict[str, Any]:
    """What a caller needs back from an accepted command (ids it could not know in advance)."""
    build = _RESULTS.get(type(events[0])) if events else None
    return build(events) if build else {}
