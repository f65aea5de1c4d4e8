"""Who asks, when, under which policy: everything a decision needs besides state and command."""

from __future__ import annotations

import dataclasses

from broker.domain.errors import Refused
from broker.domain.policy import Policy

# the platform itself: its timers and processor (system) and its staff (operator)
PLATFORM = frozenset({"system", "operator"})


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    now: int
    command_id: str
    actor_id: str
    actor_role: str
    policy: Policy


def require_self(ctx: Context, role: str, party_id: str) -> None:
    """The actor must be `party_id` itself, acting in `role` (a worker never acts as requester)."""
    if ctx.actor_role != role or ctx.actor_id != party_id:
        raise Refused("forbidden", f"{ctx.actor_role} {ctx.actor_id!r} cannot act as {party_id!r}")


def require_role(ctx: Context, roles: frozenset[str]) -> None:
    if ctx.actor_role not in roles:
        raise Refused("forbidden", f"only {sorted(roles)} may issue this command")


def require_owner(ctx: Context, owner_id: str, requester_id: str) -> None:
    """The actor is the requester named in the command, and that requester owns the task."""
    require_self(ctx, "requester", requester_id)
    if requester_id != owner_id:
        raise Refused("forbidden", f"requester {requester_id!r} does not own this task")
