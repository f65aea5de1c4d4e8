"""Dead letters: a record we could not decode or validate, kept with its reason and origin.

Nothing is dropped silently: the original bytes travel with the error, so an operator can
fix and re-inject them. The record itself is msgpack with a fixed, simple shape.

A record near Kafka's size limit cannot be copied whole into a dead letter (the wrapper
would exceed the limit and the consumer could never move past it). Then the dead letter
keeps a prefix, the size and the SHA-256 of the original, which still sits at its origin
(topic, partition, offset): the events topic is never deleted by age.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import msgpack

MAX_COPY_BYTES = 512 * 1024
PREFIX_BYTES = 64 * 1024


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
    value_size: int = -1
    value_sha256: str = ""
    truncated: bool = False

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
                "value_size": self.value_size,
                "value_sha256": self.value_sha256,
                "truncated": self.truncated,
            },
            use_bin_type=True,
        )

    @classmethod
    def decode(cls, raw: bytes) -> DeadLetter:
        return cls(**msgpack.unpackb(raw, raw=False))


def dead_letter_for(record, code: str, reason: str, consumer: str, at: int) -> DeadLetter:
    """From a kafka-python ConsumerRecord (or anything with the same attributes)."""
    return dead_letter(code, reason, record.topic, record.partition, record.offset,
                       record.key, record.value, consumer, at)


def dead_letter(code: str, reason: str, topic: str, partition: int, offset: int,
                key: bytes | None, value: bytes | None, consumer: str, at: int) -> DeadLetter:
    size = -1 if value is None else len(value)
    truncated = size > MAX_COPY_BYTES
    return DeadLetter(
        code=code,
        reason=reason,
        topic=topic,
        partition=partition,
        offset=offset,
        key=key[:PREFIX_BYTES] if key else key,
        value=value[:PREFIX_BYTES] if truncated and value is not None else value,
        consumer=consumer,
        at=at,
        value_size=size,
        value_sha256="" if value is None else hashlib.sha256(value).hexdigest(),
        truncated=truncated,
    )
