"""A posted batch is split into commands that each fit in one Kafka record (~1 MiB).

Found by tests/e2e/test_security.py: 100 tasks with 16 KB payloads, within every API
limit, made one 1.6 MB command that the broker refused (503, forever, on every retry).
"""

from __future__ import annotations

import msgpack

from broker.api.handlers_requester import MAX_CHUNK_BYTES, chunked
from schemas.commands import TaskSpec
from schemas.fields import to_plain

KAFKA_RECORD_LIMIT = 1_048_400


def spec(payload_bytes: int, title: str = "", quals: tuple[str, ...] = ()) -> TaskSpec:
    return TaskSpec(kind="survey", reward=500_000, currency="EUR", estimated_seconds=60,
                    title=title, qualifications=quals, payload={"blob": "x" * payload_bytes})


def split(tasks: tuple[TaskSpec, ...], max_tasks: int = 500) -> list[tuple[TaskSpec, ...]]:
    sizes = [len(msgpack.packb(t.payload)) for t in tasks]
    return chunked(tasks, sizes, max_tasks, MAX_CHUNK_BYTES)


def test_large_payloads_make_chunks_that_fit_in_a_record() -> None:
    tasks = tuple(spec(16_000, "t" * 200, ("q" * 64,) * 20) for _ in range(100))
    chunks = split(tasks)
    assert [t for c in chunks for t in c] == list(tasks)  # same tasks, same order
    assert len(chunks) > 1
    for chunk in chunks:
        assert len(msgpack.packb([to_plain(t) for t in chunk])) < KAFKA_RECORD_LIMIT // 2


def test_small_tasks_still_go_by_count_and_chunking_is_deterministic() -> None:
    tasks = tuple(spec(10) for _ in range(1_234))
    chunks = split(tasks)
    assert [len(c) for c in chunks] == [500, 500, 234]
    assert split(tasks) == chunks  # a retried request makes the same commands
    assert split(()) == []
