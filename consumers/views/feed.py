"""Feed view: each actor's own events, in log order, for GET /v1/events, SSE and webhooks.

An event is indexed under every tenant it concerns: the requester of its task (or its
`requester_id`) and its `worker_id`. Keys (under `pw:feed:`), with `A` the actor:
- `e:{A}:{partition}`  sorted set of A's events from that partition, score = the event's
  log position (schemas.positions), member = `{occurred_at}|{json}` (a FEED op: the store
  supplies partition and position, which projections do not see);
- `e:{A}:floor`        hash partition -> position of the last member dropped past KEEP: a
  cursor below it would miss events, so the reader refuses it (410) instead.

Per partition, positions grow in the order the views apply them, so a cursor made of one
position per partition pages without repeats or gaps while events keep arriving; that is
what makes it a log position rather than a timestamp (events of two partitions are not
applied in time order).

Left out, on purpose: TaskPosted (a requester learns of its own postings from BatchPosted,
one per 500 tasks, instead of a million entries for a million tasks), and the payload and
answer of any event (up to 16 KiB and 256 KiB: GET /v1/submissions/{id} has the answer).

The feed is a window (KEEP events per actor and partition), a copy of facts the log
already holds, with no figure the audit reports: it is not in the audit's replay
(registry.View.audited), which would otherwise hold a second copy of every event.
"""

from __future__ import annotations

import json
from typing import Any

from consumers.stores.ops import Op, feed
from schemas.envelope import EventEnvelope
from schemas.events import TaskPosted
from schemas.fields import to_plain
from schemas.ids import requester_of_task

VIEW = "feed"
PREFIX = "pw:feed:"
# Events kept per actor and partition. A constant, not a setting: the view must come out
# the same wherever it is rebuilt; changing it needs a views rebuild.
KEEP = 10_000
LEFT_OUT = frozenset({TaskPosted})
_HEAVY = ("payload", "answer")


def feed_base(actor_id: str) -> str:
    return f"pw:feed:e:{actor_id}"


def partition_key(actor_id: str, partition: int) -> str:
    return f"{feed_base(actor_id)}:{partition}"


def concerned(event: Any) -> set[str]:
    """The tenants an event concerns: its task's requester, its requester, its worker."""
    found = set()
    for name in ("requester_id", "worker_id"):
        actor = getattr(event, name, None)
        if actor:
            found.add(actor)
    task_id = getattr(event, "task_id", None)
    if task_id:
        found.add(requester_of_task(task_id))
    return found


def entry_text(env: EventEnvelope) -> str:
    """`{occurred_at}|{json}`: the instant first, so a reader merges partitions without
    parsing every member."""
    data = to_plain(env.event)
    for name in _HEAVY:
        data.pop(name, None)
    body = {"id": env.event_id, "type": env.type, "correlation_id": env.correlation_id,
            "data": data}
    return f"{env.occurred_at}|{json.dumps(body, separators=(',', ':'), ensure_ascii=False)}"


def project(env: EventEnvelope) -> list[Op]:
    event = env.event
    if event.__class__ in LEFT_OUT:
        return []
    actors = concerned(event)
    if not actors:
        return []
    text = entry_text(env)
    return [feed(feed_base(actor), text, KEEP) for actor in sorted(actors)]
