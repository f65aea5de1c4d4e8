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

from schemas.commands import MAX_ALTERNATIVES, MAX_SUITE_CANDIDATES
from schemas.ids import requester_of_task

GROUP_LIMIT = MAX_ALTERNATIVES + 1  # tasks per ClaimTask
# Refusals that only mean "someone was faster": try the next candidates.
LOST_RACE = frozenset(
    {"no_free_assignment", "task_closed", "already_claimed_by_worker", "not_found"}
)
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


def grouped(ordered: Iterable[str], limit: int = GROUP_LIMIT) -> list[tuple[str, ...]]:
    """One group per requester (split past `limit` tasks), in order of first sight.

    A group keeps its members' order (the processor tries them in that order), and the
    group holding the first task comes first.
    """
    groups: dict[str, list[list[str]]] = {}
    order: list[list[str]] = []
    for task_id in ordered:
        chunks = groups.setdefault(requester_of_task(task_id), [])
        if not chunks or len(chunks[-1]) == limit:
            chunks.append([])
            order.append(chunks[-1])
        chunks[-1].append(task_id)
    return [tuple(g) for g in order]


def plan(
    worker_id: str, candidates: Iterable[str], tried: Iterable[str] = (), take: int = GROUP_LIMIT,
    limit: int = GROUP_LIMIT,
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
    return grouped(rotated(worker_id, fresh)[:take], limit)


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


def suite_take(remaining: int) -> int:
    """Candidates a suite sends for `remaining` claims: five times as many (the view lags
    the claims of other workers), bounded by what one ClaimSuite may carry."""
    return min(MAX_SUITE_CANDIDATES, 5 * remaining + 10)


def suite_suffix(group: tuple[str, ...], count: int) -> str:
    """Part of a ClaimSuite's command id: its candidates and count (one id, one command)."""
    return "s" + hashlib.sha256(f"{count}#{pack(group)}".encode()).hexdigest()[:10]


def shares(groups: list[tuple[str, ...]], wanted: int) -> list[int]:
    """`wanted` claims shared among the groups in proportion to their candidates (largest
    remainder first, then group order), none above its group's size: the ClaimSuites of
    one round together never ask for more than the worker wants."""
    total = sum(map(len, groups))
    if not total:
        return [0] * len(groups)
    wanted = min(wanted, total)
    exact = [wanted * len(g) / total for g in groups]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(groups)), key=lambda i: counts[i] - exact[i])
    for i in by_remainder[: wanted - sum(counts)]:
        counts[i] += 1
    return counts


def pack_suite(group: tuple[str, ...], count: int) -> str:
    """A ClaimSuite's candidates and count as one memory entry ("count#task task ...")."""
    return f"{count}#{pack(group)}"


def unpack_suite(entry: str) -> tuple[tuple[str, ...], int]:
    count, _, group = entry.partition("#")
    return unpack(group), int(count)
