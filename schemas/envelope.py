"""Envelopes: the metadata around every event and command, and the reply to a command."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec

ROLES = frozenset({"requester", "worker", "operator", "system"})


# Envelopes are Structs: built for every event decoded and every event the processor
# stamps, where a frozen dataclass's __init__ (object.__setattr__ per field) cost ~8x
# a Struct's (4.8 against 0.6 us).
class EventEnvelope(msgspec.Struct, frozen=True):
    """One event as stored on piecework.events.

    `event_id` derives from `command_id` (command_id/index), so re-deciding a retried
    command can never mint a second, different event. `sequence` is the aggregate's
    version after this event: gaps or repeats in it are audit violations.
    """

    event_id: str
    aggregate_id: str
    sequence: int
    occurred_at: int
    command_id: str
    correlation_id: str
    causation_id: str
    actor_id: str
    event: Any

    @property
    def type(self) -> str:
        return self.event.TYPE


class CommandEnvelope(msgspec.Struct, frozen=True):
    """One command as sent on piecework.commands. Clients never stamp time: the processor does."""

    command_id: str
    actor_id: str
    actor_role: str
    correlation_id: str
    command: Any
    causation_id: str = ""
    # A digest of the request that became this command: a command id seen again with
    # another fingerprint is an Idempotency-Key reused for a different request.
    fingerprint: str = ""

    @property
    def type(self) -> str:
        return self.command.TYPE

    @property
    def partition_key(self) -> str:
        return self.command.partition_key


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    """The outcome of one command, on piecework.replies: accepted with its events, or refused."""

    command_id: str
    accepted: bool
    code: str = "ok"
    message: str = ""
    event_ids: tuple[str, ...] = ()
    result: dict[str, Any] = dataclasses.field(default_factory=dict)
    decided_at: int = 0
    fingerprint: str = ""  # the deciding command's (CommandEnvelope.fingerprint)
    replayed: bool = False  # answered again from memory: nothing was decided this time
