"""Task groups view: open work grouped by its terms, as MTurk groups HITs.

A group is every task of one requester with the same kind, reward, currency, estimated
seconds and qualification set; `group_id` names it by a short hash of those terms.

Keys (all under `pw:groups:`):
- `tasks:{group}`   sorted set task_id -> the queue's score (consumers.views.queue.score):
                    the group's open tasks with free assignments, lower = offered first;
- `meta:{group}`    hash: the terms (requester_id, kind, reward, currency,
                    estimated_seconds, qualifications space-joined, posted_at of the newest
                    task), `free` (free assignments) and `open_tasks` (tasks in `tasks:`),
                    and what ZSYNC needs to keep the group in its index (group_id, zset,
                    score);
- `sigs`            set of qualification signatures (comma-joined, '' = none) with groups;
- `open:{sig}`      sorted set group -> posted_at of its newest task: the groups of that
                    qualification set that have a free assignment;
- `t:{requester}:{batch}:{n}`  hash of 32 tasks (consumers/views/task_slots.py): per
                    task `{index}.free` and `{index}.counted` (its free assignments as
                    counted in the group), and its sorted set (`tasks:{group}`), score and
                    tally (its group's meta key), `~zset`, `~score`, `~tally` once when the
                    bucket's tasks share them (else `{index}.zset`, ...): what ZSYNC reads.

Membership follows claims, releases, expiries, closes and cancels exactly as the queue's
does (consumers/views/queue.py): a release names only the task, so ZSYNC derives the
task's membership from its hash and carries the change into its group's counts and index
(consumers/stores/ops.py). Per task, only its fields in a shared hash and the `tasks:`
entry; the terms are kept once per group. A closed task keeps its `free` field, as in the
queue.
"""

from __future__ import annotations

import hashlib

from consumers.stores.ops import Op, hdel, hincrby, hset_many, hsetshared, sadd, zsync
from consumers.views import task_slots
from consumers.views.projection import Handlers
from consumers.views.queue import CLOSED, score, signature
from schemas.events import (
    ClaimExpired,
    ClaimReleased,
    TaskCancelled,
    TaskClaimed,
    TaskExpired,
    TaskPosted,
)

VIEW = "groups"
PREFIX = "pw:groups:"
SIGS = "pw:groups:sigs"
ID_CHARS = 16  # hex digits of the hash: 64 bits, no collision in any realistic market
BUCKET = "pw:groups:t:"
_MEMBERSHIP = ("zset", "score", "tally", "counted")  # what a closed task no longer needs


def group_id(requester_id: str, kind: str, reward: int, currency: str, estimated_seconds: int,
             qualifications: tuple[str, ...] | list[str] | set[str]) -> str:  # fmt: skip
    """The stable id of a group's terms; the order and repeats of qualifications do not count."""
    terms = "\x1f".join((requester_id, kind, str(reward), currency, str(estimated_seconds),
                         signature(qualifications)))  # fmt: skip
    return hashlib.blake2b(terms.encode(), digest_size=ID_CHARS // 2).hexdigest()


def tasks_key(gid: str) -> str:
    return f"pw:groups:tasks:{gid}"


def meta_key(gid: str) -> str:
    return f"pw:groups:meta:{gid}"


def open_key(sig: str) -> str:
    return f"pw:groups:open:{sig}"


def task_slot(task_id: str) -> tuple[str, str]:
    """(hash, field prefix) of the task's fields (task_slots)."""
    return task_slots.slot(BUCKET, task_id)


_handlers = Handlers()
project = _handlers.projection()


@_handlers.on(TaskPosted)
def _posted(e: TaskPosted, at: int) -> list[Op]:
    gid = group_id(e.requester_id, e.kind, e.reward, e.currency, e.estimated_seconds,
                   e.qualifications)  # fmt: skip
    sig, group, (key, p) = signature(e.qualifications), meta_key(gid), task_slot(e.task_id)
    return [
        sadd(SIGS, sig),
        *hset_many(group, {
            "group_id": gid, "requester_id": e.requester_id, "kind": e.kind,
            "reward": e.reward, "currency": e.currency, "estimated_seconds": e.estimated_seconds,
            "qualifications": " ".join(sig.split(",")) if sig else "",
            "posted_at": at, "zset": open_key(sig), "score": at,
        }),
        hsetshared(key, "~zset", p + "zset", tasks_key(gid)),
        hsetshared(key, "~score", p + "score", score(e.priority, at)),
        hsetshared(key, "~tally", p + "tally", group),
        hincrby(key, p + "free", e.assignments),
        zsync(key, e.task_id, p),
    ]


@_handlers.on(TaskClaimed)
def _claimed(e: TaskClaimed, at: int) -> list[Op]:
    key, p = task_slot(e.task_id)
    return [hincrby(key, p + "free", -1), zsync(key, e.task_id, p)]


@_handlers.on(ClaimReleased, ClaimExpired)
def _returned(e: ClaimReleased | ClaimExpired, at: int) -> list[Op]:
    key, p = task_slot(e.task_id)
    return [hincrby(key, p + "free", 1), zsync(key, e.task_id, p)]


@_handlers.on(TaskCancelled, TaskExpired)
def _closed(e: TaskCancelled | TaskExpired, at: int) -> list[Op]:
    # ZSYNC takes `counted` back out of the group; a later ZSYNC (a claim ending after
    # the close) falls back to the shared fields with free <= 0: it changes nothing.
    key, p = task_slot(e.task_id)
    return [hincrby(key, p + "free", -CLOSED), zsync(key, e.task_id, p),
            hdel(key, *(p + name for name in _MEMBERSHIP))]
