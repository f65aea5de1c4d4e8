"""Every view, listed once: its name, its key prefix and its projection.

The runner feeds the views listed here, the worker stores a position for each, and the
audit digests each audited one live and replayed: adding a view is one module in this folder
and one line below. The name is stored (`pw:{name}:offsets`, docs/VIEWS.md), so renaming
a view, or moving its prefix, needs a views rebuild.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from consumers.views import (
    batches,
    deadlines,
    feed,
    ledger,
    power,
    queue,
    task_groups,
    tasks_view,
)
from consumers.views.projection import Projection


@dataclass(frozen=True, slots=True)
class View:
    name: str
    prefix: str  # every key of the view starts with it: what its digest covers
    project: Projection
    about: str
    # Folded by the audit's replay and compared with the live store. Only a window of
    # copies of events, with no figure the audit reports, is left out (the feed).
    audited: bool = True

    def __post_init__(self) -> None:
        # The view's stored positions, `pw:{name}:offsets`, must sit under its prefix with
        # one segment (consumers.stores.ops.is_offsets_key leaves them out of the digest).
        if self.prefix != f"pw:{self.name}:":
            raise ValueError(f"view {self.name!r}: prefix {self.prefix!r} is not pw:{self.name}:")


# The order is the order of a batch's entries in a store call (the views' keys never meet).
ALL: tuple[View, ...] = (
    View(queue.VIEW, queue.PREFIX, queue.project, "open tasks, best first, per qualification set"),
    View(ledger.VIEW, ledger.PREFIX, ledger.project, "where every micro-unit sits, per account"),
    View(tasks_view.VIEW, tasks_view.PREFIX, tasks_view.project, "the API's lookups by id"),
    View(deadlines.VIEW, deadlines.PREFIX, deadlines.project, "what the timer fires, and when"),
    View(power.VIEW, power.PREFIX, power.project, "the sums the power metrics read"),
    View(batches.VIEW, batches.PREFIX, batches.project, "batches, tasks, submissions by status"),
    View(task_groups.VIEW, task_groups.PREFIX, task_groups.project,
         "open tasks grouped by requester and terms, with counts"),
    View(feed.VIEW, feed.PREFIX, feed.project, "each actor's own events, for feeds and webhooks",
         audited=False),
)
AUDITED: tuple[View, ...] = tuple(view for view in ALL if view.audited)
BY_NAME: Mapping[str, View] = {view.name: view for view in ALL}
if len(BY_NAME) != len(ALL):
    raise ValueError("two views share a name")
