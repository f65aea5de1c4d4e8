"""Dead letters: a record we could not decode or validate, kept with its reason and origin.

Nothing is dropped silently: the original bytes travel with the error, so an operator can
fix and re-inject them. The record itself is msgpack with a fixed, simple shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack


@dataclass(frozen=True, slots=True)
class DeadLetter:
    code: str
    reason: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    consumer: str
    at: int

    def encode(self) -> bytes:
        return msgpack.packb(
            {
                "code": self.code,
                "reason": self.reason[:2_000],
                "topic": self.topic,
                "partition": self.partition,
                "offset": self.offset,
                "key": self.key,
                "value": self.value,
                "consumer": self.consumer,
                "at": self.at,
            },
            use_bin_type=True,
        )

    @classmethod
    def decode(cls, raw: bytes) -> DeadLetter:
        return cls(**msgpack.unpackb(raw, raw=False))


def dead_letter_for(record, code: str, reason: str, consumer: str, at: int) -> DeadLetter:
    """From a kafka-python ConsumerRecord (or anything with the same attributes)."""
    return DeadLetter(
        code=code,
        reason=reason,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        consumer=consumer,
        at=at,
    )
