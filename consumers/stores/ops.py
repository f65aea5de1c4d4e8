"""The op language views speak: a few Redis-shaped writes that need no read to compute.

A projection turns one event into a list of ops; a store (memory or Redis) executes them
with identical semantics. Arguments are in Redis argument order, so the Redis store can
pass most ops straight through. Values given are ints or strings, never floats or bools,
and are stored as strings right here: that is what Redis keeps anyway, it lets the Redis
store ship ops without touching them, and no integer ever crosses Lua as a double.
"""

from __future__ import annotations

from typing import NamedTuple

Value = int | str
Op = tuple[str, ...]

# ZSYNC meta_key member: after the event's increments, put `member` in the sorted set
# named by the hash field `zset` at score `score` if the hash field `free` is > 0,
# else remove it. The queue needs it because a release does not carry the task's
# priority or qualifications (only its task id), so the score and set live in the hash.
# A meta hash with a `tally` field (the task groups view) also keeps a sum of its members:
# the hash named by `tally` counts `free` (the sum of max(free, 0) of its members, each
# member's last counted value kept in its `counted` field) and `open_tasks` (members with
# free > 0), and, when that changes, is itself synced the same way with member `group_id`
# (its own `zset` and `score`). So a group's counts and its place in an index follow a
# release that names only the task, without the projection reading anything.
# ZSYNC meta_key member prefix: the same on the fields `{prefix}free`, `{prefix}zset`, ...
# of a hash shared by several members (32 tasks a hash: consumers/views/task_slots.py);
# `zset`, `score` and `tally` a member does not hold are the hash's shared `~zset`,
# `~score` and `~tally` (HSETSHARED).
ZSYNC = "ZSYNC"
# HSETSHARED key shared field value: `value` for `field` of a hash shared by several
# members, stored once when they agree: HSETNX `shared` (the first member's value), then
# HSET `field` only if `value` differs from `shared`, else HDEL it. Read: `field`, else
# `shared`. The tasks of a bucket nearly always share their sorted set, score and group.
HSETSHARED = "HSETSHARED"
# FEED base member keep: ZADD `member` to `{base}:{partition}` scored by the event's own
# position (the entry's partition and position, which a projection does not see), then, if
# that set holds more than `keep` members, pop its lowest and record that position in the
# hash `floor_key(base)` under the partition: a cursor below it has lost events. The feed
# view (consumers/views/feed.py) needs it: its cursor is a log position.
FEED = "FEED"
# Ops the stores accept; anything else is a projection bug and fails loudly.
# ZMIN hash zset member: score `member` in `zset` by the least value of `hash` (integers
# below 2**53), or remove it if the hash is empty. The deadlines view needs it: task
# expiries are kept 32 tasks a hash (index -> instant), and the sorted set the timer reads
# holds one entry per hash, due when its earliest task is, whichever tasks have closed.
ZMIN = "ZMIN"
COMMANDS = frozenset({"HINCRBY", "HSET", "HSETNX", "HDEL", "ZADD", "ZREM", "SADD", "SREM", ZSYNC,
                      FEED, ZMIN, HSETSHARED})


def _value(value: Value) -> str:
    if type(value) is str:
        return value
    if type(value) is not int:  # bool is an int subclass, and a bug here
        raise TypeError(f"op values are ints or strings, got {value!r}")
    return str(value)


def hincrby(key: str, field: str, n: int) -> Op:
    if type(n) is not int:
        raise TypeError(f"HINCRBY needs an int, got {n!r}")
    return ("HINCRBY", key, field, str(n))


def hset(key: str, field: str, value: Value) -> Op:
    return ("HSET", key, field, _value(value))


def hsetnx(key: str, field: str, value: Value) -> Op:
    return ("HSETNX", key, field, _value(value))


def hdel(key: str, *fields: str) -> Op:
    return ("HDEL", key, *fields)


def zadd(key: str, score: int, member: str) -> Op:
    # Integer scores below 2**53 only: a double, Redis's score type, holds them exactly.
    if type(score) is not int or abs(score) >= 2**53:
        raise ValueError(f"scores are integers below 2**53, got {score!r}")
    return ("ZADD", key, str(score), member)


def zrem(key: str, member: str) -> Op:
    return ("ZREM", key, member)


def sadd(key: str, member: str) -> Op:
    return ("SADD", key, member)


def srem(key: str, member: str) -> Op:
    return ("SREM", key, member)


def zsync(meta_key: str, member: str, prefix: str = "") -> Op:
    return (ZSYNC, meta_key, member, prefix) if prefix else (ZSYNC, meta_key, member)


def hsetshared(key: str, shared: str, field: str, value: Value) -> Op:
    return (HSETSHARED, key, shared, field, _value(value))


def feed(base: str, member: str, keep: int) -> Op:
    return (FEED, base, member, str(keep))


def zmin(key: str, zset: str, member: str) -> Op:
    return (ZMIN, key, zset, member)


def feed_floor_key(base: str) -> str:
    """Where FEED records, per partition, the position of the last member it dropped."""
    return f"{base}:floor"


def hset_many(key: str, fields: dict[str, Value | None]) -> list[Op]:
    """One multi-field HSET (None values left out: an absent field reads as None).

    One op instead of one per field: a posted task sets ~20 fields, and each op costs a
    Lua iteration and a redis.call in the store.
    """
    flat = ["HSET", key]
    for name, value in fields.items():
        if value is not None:
            flat.append(name)
            flat.append(value if type(value) is str else _value(value))
    return [tuple(flat)] if len(flat) > 2 else []


class Entry(NamedTuple):
    """The ops one view derives from one event, and where that event sits in the log.

    A store applies an entry only if `position` (schemas.positions) is above the last one
    it stored for `partition` under `offsets_key`, and stores it in the same atomic step.
    The hash keeps its first name, `pw:{view}:offsets`: renaming it would need a rebuild.
    A NamedTuple rather than a frozen dataclass: hundreds of thousands are built per
    second on the hot path, and a tuple is several times cheaper to make.
    """

    offsets_key: str
    partition: int
    position: int
    ops: tuple[Op, ...]


def offsets_key(view: str) -> str:
    return f"pw:{view}:offsets"


def is_offsets_key(key: str) -> bool:
    """Only `pw:{view}:offsets` itself: a view's data keys always have more segments."""
    return key.endswith(":offsets") and key.count(":") == 2
