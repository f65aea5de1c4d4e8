"""The shared projection skeleton: one handler per event class, found by exact class."""

from __future__ import annotations

import pytest

from consumers.stores.ops import Op, hincrby
from consumers.views import registry
from consumers.views.projection import Handlers
from schemas.envelope import EventEnvelope
from schemas.events import FundsDeposited, TaskCancelled, TaskExpired


def envelope(event: object, at: int = 5) -> EventEnvelope:
    return EventEnvelope("e1", "acme", 1, at, "c1", "c1", "", "acme", event)


def test_the_handler_of_the_event_class_gets_the_event_and_its_instant() -> None:
    handlers = Handlers()
    project = handlers.projection()  # built before registration: sees later handlers

    @handlers.on(TaskCancelled, TaskExpired)
    def _closed(e: TaskCancelled | TaskExpired, at: int) -> list[Op]:
        return [hincrby(f"k:{e.task_id}", "closed_at", at)]

    assert project(envelope(TaskExpired("t1", "acme", 0, "EUR"), at=42)) == [
        ("HINCRBY", "k:t1", "closed_at", "42")
    ]
    assert project(envelope(FundsDeposited("acme", 1, "EUR"))) == []


def test_an_event_class_has_one_handler_per_view() -> None:
    handlers = Handlers()
    handlers.on(TaskExpired)(lambda e, at: [])
    with pytest.raises(ValueError, match="TaskExpired"):
        handlers.on(TaskExpired)(lambda e, at: [])


def test_every_view_projects_through_the_shared_skeleton() -> None:
    for view in registry.ALL:
        if view.name == "feed":  # indexes every event class the same way, by its envelope
            continue
        assert view.project.__qualname__ == "Handlers.projection.<locals>.project", view.name
