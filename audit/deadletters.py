"""Reading the dead-letter topic. A dead letter that itself does not decode is listed raw,
never dropped: it is still a record nobody processed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from runtime.deadletter import DeadLetter
from runtime.kafka_io import read_topic

PREVIEW_BYTES = 32


@dataclass(frozen=True)
class Listed:
    """One record of the dead-letter topic, decoded (`letter`) or not (`error`)."""

    partition: int
    offset: int
    raw: bytes
    letter: DeadLetter | None
    error: str = ""

    @property
    def code(self) -> str:
        return self.letter.code if self.letter else "undecodable_dead_letter"

    @property
    def origin(self) -> tuple[str, int, int] | None:
        letter = self.letter
        return (letter.topic, letter.partition, letter.offset) if letter else None

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"partition": self.partition, "offset": self.offset}
        if self.letter is None:
            return {**found, "code": self.code, "error": self.error, "raw": self.raw.hex()}
        d = self.letter
        return {
            **found, "code": d.code, "reason": d.reason, "consumer": d.consumer, "at": d.at,
            "origin": {"topic": d.topic, "partition": d.partition, "offset": d.offset},
            "key": d.key.hex() if isinstance(d.key, bytes) else d.key,
            "value_head": (d.value or b"")[:PREVIEW_BYTES].hex(),
            "value_bytes": len(d.value or b""),
        }  # fmt: skip


def decode(partition: int, offset: int, raw: bytes) -> Listed:
    try:
        letter = DeadLetter.decode(raw)
    except Exception as exc:  # msgpack garbage or a wrong shape: both are kept, raw
        return Listed(partition, offset, raw, None, f"{type(exc).__name__}: {exc}")
    return Listed(partition, offset, raw, letter)


def read(bootstrap: str, topic: str, limit: int | None = None) -> Iterator[Listed]:
    records = read_topic(bootstrap, topic, "piecework-dead-letters")
    try:
        for n, record in enumerate(records):
            if limit is not None and n >= limit:
                return
            yield decode(record.partition, record.offset, record.value or b"")
    finally:
        records.close()  # closes the consumer now, not when the generator is collected


def codes(listed: Iterable[Listed]) -> dict[str, int]:
    return dict(Counter(item.code for item in listed).most_common())
