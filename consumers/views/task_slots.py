"""32 tasks a hash: where a view keeps a task's few fields in a hash its batch's tasks share.

A task id minted by piecework is `{requester}:{batch}:{index}` (schemas.ids), so tasks
`index >> 5` of one batch share `{base}{requester}:{batch}:{n}`, and a task's fields are
`{index}.{name}`. A key of its own costs ~80 B (key, dict entry, object header) before
its first field; in a shared hash (a listpack below 128 entries) a small field costs a
few bytes. What the tasks of a bucket nearly always share (their sorted set, its score,
their group) is kept once, in `~{name}`, by HSETSHARED; ZSYNC reads a task's own field,
else the shared one (consumers/stores/ops.py). A task id of another shape gets a hash of
its own (prefix `_.`). The queue and the groups view keep their tasks so; the tasks view
packs its own way (consumers/views/task_record.py), on the same buckets.
"""

from __future__ import annotations

from consumers.stores.store import Reader

BUCKET_BITS = 5  # 32 tasks: with 2 fields each and 3 shared, under 128 listpack entries
SHARED = ("zset", "score", "tally")  # what ZSYNC falls back to `~{name}` for


def slot(base: str, task_id: str) -> tuple[str, str]:
    """(hash key, field prefix) of a task: its fields are `{prefix}{name}`."""
    head, _, index = task_id.rpartition(":")
    if head and index.isdigit():
        return f"{base}{head}:{int(index) >> BUCKET_BITS}", index + "."
    return f"{base}{task_id}", "_."  # not minted by piecework: a hash of its own


def read(reader: Reader, base: str, task_id: str) -> dict[str, str]:
    """A task's fields by name, the shared ones resolved, as a hash of its own held them
    ({} for an unknown task). For tests and tools: ZSYNC reads them in the store."""
    key, prefix = slot(base, task_id)
    bucket = reader.hgetall(key)
    own = {name[len(prefix):]: value for name, value in bucket.items()
           if name.startswith(prefix)}  # fmt: skip
    if not own:
        return {}
    if int(own.get("free", 0)) < 0:
        return own  # closed (consumers.views.queue.CLOSED): only `free`, as before
    for name in SHARED:
        if name not in own and "~" + name in bucket:
            own[name] = bucket["~" + name]
    return own
