"""Cursor-paged reads over the batches view, and the typed rows the API serves.

A cursor is the (score, member) of the last item served, urlsafe base64 of its JSON: the
next page starts strictly after it in the set's (score, member) order. Scores never change
for a member (consumers/views/batches.py), so a member inserted, moved or removed between
two pages never makes another one appear twice or be skipped. A page costs one
ZRANGEBYSCORE ... LIMIT, O(log N + limit) (plus the members tied with the cursor's score,
which the views make rare), never O(set); a batch's tasks of every status, one such read
of each of its 7 status sets in one MULTI (`merged_page`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from typing import Any

from consumers.stores.store import Reader, Scored
from consumers.views import batches, task_record, tasks_view

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class BadQuery(ValueError):
    """A cursor, limit or filter the caller got wrong (the API answers 422)."""


Cursor = tuple[int, str]
Page = tuple[list[dict[str, Any]], str | None]  # items, the next page's cursor

_TASK_INTS = frozenset({
    "reward", "fee", "assignments", "lease_seconds", "expires_at", "auto_approve_seconds",
    "estimated_seconds", "priority", "posted_at", "closed_at", "claimed", "released",
    "expired_claims", "submitted", "approved", "rejected", "disputed", "overturned",
    "bonuses", "bonus_amount",
})  # fmt: skip
_SUBMISSION_INTS = frozenset({
    "claimed_at", "submitted_at", "auto_approve_at", "reviewed_at", "reward", "fee",
    "disputed_at", "overturned_at",
})  # fmt: skip
_BATCH_INTS = frozenset({
    "posted_at", "chunks", "tasks", "claims", "submissions", "approved", "rejected",
    "overturned", "bonuses", "escrow", "spend",
})  # fmt: skip
BATCH_COUNTERS = ("tasks", "claims", "submissions", "approved", "rejected", "overturned",
                  "bonuses", "escrow", "spend", "chunks")


def encode_cursor(score: float, member: str) -> str:
    raw = json.dumps([int(score), member], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None) -> Cursor | None:
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        score, member = json.loads(raw)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BadQuery("cursor is not one this API gave") from exc
    if type(score) is not int or type(member) is not str or abs(score) >= 2**53:
        raise BadQuery("cursor is not one this API gave")
    return score, member


def parse_limit(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadQuery(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(text)


def page(reader: Reader, key: str, cursor: Cursor | None,
         limit: int) -> tuple[list[Scored], str | None]:  # fmt: skip
    """Up to `limit` members after `cursor`, and the next page's cursor (None at the end)."""
    if cursor is None:
        items = reader.zrange_from(key, -(2**53), 0, limit + 1)
    else:
        score, member = cursor
        count = limit + 2  # the cursor's own member is usually still in the set
        while True:
            # One read from the cursor's score: the prefix tied with it at or before its
            # member was served, the rest follows. Never a second read at an offset
            # counted on the first: a write between the two would shift it (an item
            # served twice, or the set's last one never).
            fetched = reader.zrange_from(key, score, 0, count)
            items = [x for x in fetched if x[1] > score or x[0] > member]
            if len(items) > limit or len(fetched) < count:
                break
            count += len(fetched) - len(items)  # ties with the cursor: read wider
    if len(items) > limit:
        last = items[limit - 1]
        return items[:limit], encode_cursor(last[1], last[0])
    return items, None


def merged_page(reader: Reader, keys: Sequence[str], cursor: Cursor | None,
                limit: int) -> tuple[list[Scored], str | None]:  # fmt: skip
    """`page` over the union of sets no member is in twice (a batch's status sets: a task
    is in exactly one, at a score that never changes), in the order one set holding them
    all would give. One atomic read of every set (MULTI: a task moving between two sets
    is seen in one of them), up to limit + 1 members after the cursor from each."""
    start, count = (-(2**53), limit + 1) if cursor is None else (cursor[0], limit + 2)
    while True:
        fetched = reader.zrange_from_many([(key, start, count) for key in keys])
        merged: list[Scored] = []
        widen = 0
        for rows in fetched:
            after = rows if cursor is None else [
                x for x in rows if x[1] > cursor[0] or x[0] > cursor[1]]
            if len(after) <= limit and len(rows) == count:
                widen = max(widen, len(rows) - len(after))  # ties with the cursor
            merged += after
        if not widen:
            break
        count += widen
    merged.sort(key=_by_score)
    if len(merged) > limit:
        last = merged[limit - 1]
        return merged[:limit], encode_cursor(last[1], last[0])
    return merged, None


def _by_score(item: Scored) -> tuple[float, str]:
    return item[1], item[0]


def _typed(found: dict[str, str], ints: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in found.items():
        if name in ints:
            out[name] = int(value)
        elif name in ("payload", "answer"):
            out[name] = json.loads(value)
        elif name in ("below_wage_floor", "automatic"):
            out[name] = value == "1"
        elif name == "qualifications":
            out[name] = value.split(",") if value else []
        else:
            out[name] = value
    return out


def task_row(task_id: str, found: dict[str, str]) -> dict[str, Any]:
    return {"task_id": task_id, **_typed(found, _TASK_INTS)}


def submission_row(submission_id: str, found: dict[str, str]) -> dict[str, Any]:
    row = {"submission_id": submission_id, **_typed(found, _SUBMISSION_INTS)}
    row["task_id"] = row.pop("task", None) or _task_of(submission_id)
    return row


def _batch_row(batch_id: str, found: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {"batch_id": batch_id}
    row.update({name: 0 for name in BATCH_COUNTERS})
    row.update(_typed(found, _BATCH_INTS))
    return row


def batches_page(reader: Reader, requester: str, cursor: Cursor | None,
                 limit: int) -> Page:
    """The requester's batches, newest first."""
    items, after = page(reader, batches.batches_key(requester), cursor, limit)
    found = reader.hgetall_many([batches.batch_key(requester, b) for b, _ in items])
    return [_batch_row(b, f) for (b, _), f in zip(items, found, strict=True)], after


def batch_progress(reader: Reader, requester: str, batch: str) -> dict[str, Any] | None:
    """The batch's counters, and how many of its tasks are in each status; None if unknown."""
    found = reader.hgetall(batches.batch_key(requester, batch))
    if not found or "posted_at" not in found:
        return None
    row = _batch_row(batch, found)
    counts = reader.zcard_many([batches.tasks_key(requester, batch, s)
                                for s in batches.TASK_STATUSES])
    row["status_counts"] = dict(zip(batches.TASK_STATUSES, counts, strict=True))
    row.update(row["status_counts"])
    row["requester_id"] = requester
    return row


def batch_tasks_page(reader: Reader, requester: str, batch: str, status: str | None,
                     cursor: Cursor | None, limit: int) -> Page:
    if status is not None and status not in batches.TASK_STATUSES:
        raise BadQuery(f"status must be one of {', '.join(batches.TASK_STATUSES)}")
    items, after = _tasks_page(reader, requester, batch, status, cursor, limit)
    ids = [t for t, _ in items]
    found = task_record.read_tasks(reader, ids)
    return [task_row(t, f) for t, f in zip(ids, found, strict=True)], after


def _tasks_page(reader: Reader, requester: str, batch: str, status: str | None,
                cursor: Cursor | None, limit: int) -> tuple[list[Scored], str | None]:  # fmt: skip
    """A batch's tasks of one status, or of all: merged from the status sets (the view
    keeps no set of all its tasks: ~100 B a task, docs/DESIGN.md)."""
    if status is not None:
        return page(reader, batches.tasks_key(requester, batch, status), cursor, limit)
    return merged_page(reader, [batches.tasks_key(requester, batch, s)
                                for s in batches.TASK_STATUSES], cursor, limit)  # fmt: skip


def submissions_page(reader: Reader, requester: str, status: str, batch: str | None,
                     cursor: Cursor | None, limit: int) -> Page:
    """Submissions by status: of one batch, or (status `submitted` only) across the
    requester's batches, oldest submission first: the review queue."""
    if status not in batches.SUBMISSION_STATUSES:
        raise BadQuery(f"status must be one of {', '.join(batches.SUBMISSION_STATUSES)}")
    if batch is not None:
        key = batches.subs_key(requester, batch, status)
    elif status == "submitted":
        key = batches.review_key(requester)
    else:
        raise BadQuery("a status other than submitted needs a batch_id")
    items, after = page(reader, key, cursor, limit)
    ids = [s for s, _ in items]
    found = reader.hgetall_many([tasks_view.submission_key(_task_of(s), s) for s in ids])
    return [submission_row(s, f) for s, f in zip(ids, found, strict=True)], after


def task_submissions_page(reader: Reader, task_id: str, cursor: Cursor | None,
                          limit: int) -> Page:  # fmt: skip
    """A task's submissions in claim order. A task has at most `assignments` (1,000) of
    them, so its set is read whole and paged here; the cursor is (claim number, id)."""
    members = reader.smembers(tasks_view.submissions_key(task_id))
    ordered = sorted((_claim_number(s), s) for s in members)
    if cursor is not None:
        ordered = [m for m in ordered if m > cursor]
    after = encode_cursor(*ordered[limit - 1]) if len(ordered) > limit else None
    ids = [s for _, s in ordered[:limit]]
    found = reader.hgetall_many([tasks_view.submission_key(task_id, s) for s in ids])
    return [submission_row(s, f) for s, f in zip(ids, found, strict=True)], after


def _claim_number(submission_id: str) -> int:
    number = submission_id.rpartition(":c")[2]  # a submission bears its claim's id
    return int(number) if number.isdigit() else 0


def _task_of(submission_id: str) -> str:
    return submission_id.rpartition(":")[0]


RESULT_READ = 500  # submission records read per round trip by `results`
RESULT_COLUMNS = ("task_id", "submission_id", "worker", "status", "claimed_at",
                  "submitted_at", "reviewed_at", "reason", "answer")


def results(reader: Reader, requester: str, batch: str,
            page_size: int = 200) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Every submission of the batch, in task order (then submission id), with its answer:
    one page of tasks in memory at a time, whatever the batch's size."""
    cursor: Cursor | None = None
    while True:
        items, after = _tasks_page(reader, requester, batch, None, cursor, page_size)
        ids = [t for t, _ in items]
        subs = reader.smembers_many([tasks_view.submissions_key(t) for t in ids])
        pairs = [(t, s) for t, found in zip(ids, subs, strict=True) for s in sorted(found)]
        # A task may have up to 1,000 assignments: read the submissions a slice at a time,
        # so memory is bounded by rows, not by tasks x assignments.
        for start in range(0, len(pairs), RESULT_READ):
            chunk = pairs[start:start + RESULT_READ]
            hashes = reader.hgetall_many([tasks_view.submission_key(t, s) for t, s in chunk])
            for (_, s), found in zip(chunk, hashes, strict=True):
                row = submission_row(s, found)
                yield {name: row.get(name) for name in RESULT_COLUMNS}
        if after is None:
            return
        cursor = decode_cursor(after)
