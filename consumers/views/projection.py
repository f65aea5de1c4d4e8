"""The skeleton every view shares: one handler per event class, found by a dict lookup.

A view registers its handlers on a `Handlers` table and exports `project = table.projection()`.
A handler takes the event and the instant it occurred (epoch ms) and returns its ops.

Why not `functools.singledispatch`: every call goes through its wrapper and a
`WeakKeyDictionary` lookup written in Python, for five views per event on the replay
path. Events are final dataclasses with no subclasses, so the exact class is the whole
key; an event class a view does not list projects to no ops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from consumers.stores.ops import Op
from schemas.envelope import EventEnvelope

Handler = Callable[[Any, int], list[Op]]  # (event, occurred_at ms) -> ops
Projection = Callable[[EventEnvelope], list[Op]]
H = TypeVar("H", bound=Handler)


class Handlers:
    """A view's table: event class -> handler, filled once at import by `on`."""

    def __init__(self) -> None:
        self.table: dict[type, Handler] = {}

    def on(self, *events: type) -> Callable[[H], H]:
        """Register the decorated function as the handler of each of `events`."""

        def register(handler: H) -> H:
            for event in events:
                if event in self.table:
                    raise ValueError(f"{event.__name__} already has a handler")
                self.table[event] = handler
            return handler

        return register

    def projection(self) -> Projection:
        """`project(envelope) -> ops`; sees handlers registered before or after this call."""
        find = self.table.get

        def project(env: EventEnvelope) -> list[Op]:
            event = env.event
            handler = find(event.__class__)
            return [] if handler is None else handler(event, env.occurred_at)

        return project
