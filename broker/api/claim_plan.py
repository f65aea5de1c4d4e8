"""Claim-next's plan: which candidate tasks a worker asks for, in which commands, in what order.

Every worker reads the same head of the queue view, and the view lags the claims by a
few milliseconds, so a plan must make concurrent workers (a) start on different tasks
and (b) lose as few Kafka round trips as possible when they still collide:
- rotation: each worker orders the head by a hash of (worker, task), so a burst of
  workers spreads over the head instead of all asking for its first task;
- groups: the candidates of one requester go in one ClaimTask (the first as task_id,
  the rest as alternatives, see schemas/commands.py), so a task someone else just took
  costs the processor a loop step, not the worker another round trip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from schemas.commands import MAX_ALTERNATIVES
from schemas.ids import requester_of_task

GROUP_LIMIT = MAX_ALTERNATIVES + 1  # tasks per ClaimTask
SEPARATOR = " "  # task ids never hold a space (schemas/rules.py)


def rotated(worker_id: str, candidates: Iterable[str]) -> list[str]:
    """The candidates in this worker's own order: a hash of (worker, task), stable per pair.

    Stable, so a worker's retry asks for the same tasks first; independent across
    workers, so two workers share a first choice with probability 1/len(candidates).
    """
    prefix = worker_id.encode() + b"\0"

    def key(task_id: str) -> bytes:
        return hashlib.blake2b(prefix + task_id.encode(), digest_size=8).digest()

    return sorted(candidates, key=key)


def grouped(ordered: Iterable[str]) -> list[tuple[str, ...]]:
    """One group per requester (split past GROUP_LIMIT tasks), in order of first sight.

    A group keeps its members' order (the processor tries them in that order), and the
    group holding the first task comes first.
    """
    groups: dict[str, list[list[str]]] = {}
    order: list[list[str]] = []
    for task_id in ordered:
        chunks = groups.setdefault(requester_of_task(task_id), [])
        if not chunks or len(chunks[-1]) == GROUP_LIMIT:
            chunks.append([])
            order.append(chunks[-1])
        chunks[-1].append(task_id)
    return [tuple(g) for g in order]


def plan(
    worker_id: str, candidates: Iterable[str], tried: Iterable[str] = (), take: int = GROUP_LIMIT
) -> list[tuple[str, ...]]:
    """The ClaimTask groups to send, in order: `take` of the candidates not tried yet.

    The `take` are this worker's first in rotation over all the candidates given: from a
    window twice as wide, a group fails only once nearly the whole window is taken,
    not as soon as its first `take` are (the view lags the claims).
    """
    seen = set(tried)
    fresh = []
    for task_id in candidates:  # a task can sit in several of the worker's queues
        if task_id not in seen:
            seen.add(task_id)
            fresh.append(task_id)
    return grouped(rotated(worker_id, fresh)[:take])


def pack(group: tuple[str, ...]) -> str:
    """A group as one string, for the Idempotency-Key memory (a Redis list entry)."""
    return SEPARATOR.join(group)


def unpack(entry: str) -> tuple[str, ...]:
    """Inverse of pack; an entry written before groups existed is a group of one task."""
    return tuple(entry.split(SEPARATOR))


def attempt_suffix(group: tuple[str, ...]) -> str:
    """Part of the command id naming the group: one id never names two different claims.

    A group of one task gets the suffix a single-task attempt always had.
    """
    return hashlib.sha256(pack(group).encode()).hexdigest()[:10]
