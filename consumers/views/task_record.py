"""How the tasks view keeps a task: one compact field in a hash shared by 32 tasks.

Tasks of one batch share a hash, `pw:tasks:t:{requester}:{batch}:{n}` with n = index
>> 5, so a task pays its bytes and a few of listpack framing instead of a key of its own
(key, dict entry, object header: ~80 B) and ~20 field names (~250 B). In it:
- `~{digest}`: a posted terms text, the JSON array of `TERMS` (the tasks of a batch
  usually share every term, so it is stored once per hash), and `~` a copy of the
  hash's first one, prefixed by its name, so that one HMGET reads most tasks;
- `{index}`: the task's own field, its terms' name, `\\x1f`, its payload's JSON text
  (JSON never holds a raw control character, so the first `\\x1f` splits them);
- `{index}.{name}`: what moves (status, closed_at, the counters), a field each, written
  only once it moves.
The reads expand it back to exactly the fields the one-hash-per-task layout held, so the
API answers the same. Measured in bench/redis_memory.py (docs/DESIGN.md, "Decisions by
measurement").
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from consumers.stores.store import Reader

BUCKET = "pw:tasks:t:"
_BUCKET_BITS = 5  # 32 tasks a hash: with up to 3 moving fields each, under 128 listpack entries
# The posted terms, in the order of the stored array. requester and batch are null when
# the task id already says them (schemas.ids: requester:batch:index).
TERMS = ("kind", "title", "reward", "fee", "currency", "assignments", "lease_seconds",
         "expires_at", "auto_approve_seconds", "estimated_seconds", "priority",
         "qualifications", "payload_ref", "below_wage_floor", "posted_at", "requester",
         "batch")  # fmt: skip
# What events change after the post, each its own field when present.
LIVE = ("status", "closed_at", "claimed", "released", "expired_claims", "submitted",
        "approved", "rejected", "disputed", "overturned", "bonuses", "bonus_amount")  # fmt: skip
_SEP = "\x1f"
# A copy of the hash's first terms, with their name (HSETNX: 4 B a task), so that one
# HMGET reads a task whose terms are those (nearly all): GET /v1/tasks/{id} in one trip.
FIRST = "~"
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def slot(task_id: str) -> tuple[str, str]:
    """(hash key, field) of a task's terms; its live fields are `{field}.{name}`."""
    head, _, index = task_id.rpartition(":")
    if head and index.isdigit():
        return f"{BUCKET}{head}:{int(index) >> _BUCKET_BITS}", index
    return f"{BUCKET}{task_id}", "_"  # not minted by piecework: a hash of its own


def live_field(task_id: str, name: str) -> tuple[str, str]:
    key, field = slot(task_id)
    return key, f"{field}.{name}"


def pack(task_id: str, terms: dict[str, Any], payload_text: str) -> tuple[dict[str, str], str]:
    """The fields to set in the task's hash (its terms, `TERMS` naming every key of
    `terms`, shared by name, and the task's own field), and what to set in the hash's
    `FIRST` field if it has none: the name and text of the first terms it received."""
    head = task_id.rpartition(":")[0]
    requester, _, batch = head.partition(":")
    if terms["requester"] == requester and terms["batch"] == batch:
        terms = {**terms, "requester": None, "batch": None}
    text = _json([terms[name] for name in TERMS])
    # 64 bits: two different terms in one hash of 32 tasks never meet one name
    name = "~" + hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
    return {name: text, slot(task_id)[1]: name + _SEP + payload_text}, name + _SEP + text


def read_tasks(reader: Reader, task_ids: Sequence[str]) -> list[dict[str, str]]:
    """Each task's fields as text, as one hash per task held them; {} for an unknown task.

    Whole hashes are read (HGETALL): a page of a batch's tasks is a few of them, and
    naming 13 fields per task (HMGET) cost more in redis-py than the bytes it saved."""
    slots = [slot(t) for t in task_ids]
    keys = list(dict.fromkeys(key for key, _ in slots))
    found = [reader.hgetall(keys[0])] if len(keys) == 1 else reader.hgetall_many(keys)
    hashes = dict(zip(keys, found, strict=True))
    return [_expand(t, hashes[key], field) for t, (key, field) in zip(task_ids, slots,
                                                                       strict=True)]  # fmt: skip


def read_task(reader: Reader, task_id: str) -> dict[str, str]:
    """One task (GET /v1/tasks/{id}): one HMGET of its own fields and the hash's first
    terms (a second for its terms if they differ), not a whole hash of 32 payloads of
    up to 16 KiB each."""
    key, field = slot(task_id)
    values = reader.hmget(key, [field, FIRST, *_live(field)])
    if values[0] is None:
        return {}
    name = values[0].partition(_SEP)[0]
    first_name, _, terms = (values[1] or "").partition(_SEP)
    if first_name != name:
        terms = reader.hmget(key, [name])[0] or ""
    if not terms:  # never apart from its task: both are set by one HSET
        return {}
    own = {field: values[0], name: terms}
    own.update((f, v) for f, v in zip(_live(field), values[2:], strict=True) if v is not None)
    return _expand(task_id, own, field)


@functools.lru_cache(maxsize=4_096)
def _terms(text: str) -> dict[str, str]:
    """The fields of a terms text; cached (never mutate the result): a market's tasks
    share a few terms, and parsing them was most of a GET's extra cost."""
    found = {"status": "open"}
    for name, value in zip(TERMS, json.loads(text), strict=True):
        if value is not None:
            found[name] = value if value.__class__ is str else str(value)
    return found


def _expand(task_id: str, bucket: dict[str, str], field: str) -> dict[str, str]:
    packed = bucket.get(field)
    if packed is None:
        return {}
    name, _, payload = packed.partition(_SEP)
    terms = bucket.get(name)
    if terms is None:  # never apart from its task: both are set by one HSET
        return {}
    found = _terms(terms).copy()
    if "requester" not in found:
        requester, _, batch = task_id.rpartition(":")[0].partition(":")
        found["requester"], found["batch"] = requester, batch
    found["payload"] = payload
    for name, live in zip(LIVE, _live(field), strict=True):
        value = bucket.get(live)
        if value is not None:
            found[name] = value
    return found


@functools.lru_cache(maxsize=1_024)
def _live(field: str) -> tuple[str, ...]:
    """The names of a task's moving fields in its hash, in `LIVE` order."""
    return tuple(f"{field}.{name}" for name in LIVE)
