"""The hash chain of an events partition: what each record's `pw-chain` header holds.

Every record of an events partition is a link: its chain value is

    head_n = SHA-256(b"pw-chain/1" || head_{n-1} || partition (4 B, big-endian)
                     || n (8 B, big-endian) || SHA-256(record value))

where n counts the partition's records from 1 and head_0 = GENESIS. The header carries
n (8 B) followed by head_n (32 B). Only fields known before the record is written go in:
the Kafka offset is assigned by the broker inside a transaction, so it cannot be; the
count n makes a removed or repeated record visible without it, and the partition number
stops a record from being moved to another partition's chain. The key is not covered:
it is derived from the record's events (audit.logfile.event_key).

A record written before the chain existed has no header: it is linked as if it had one
(its implied value), so the first chained record commits to every earlier one too. A
header-less record after a chained one was written by something other than the
processor: `verify` reports it.

Pure (hashlib only): the processor, the audit and an auditor's own tools share it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

HEADER = "pw-chain"
DOMAIN = b"pw-chain/1"
GENESIS = bytes(32)  # head_0 of every partition: 32 zero bytes
HEADER_BYTES = 40


def digest(value: bytes) -> bytes:
    """H(record value): what the chain commits to for one record."""
    return hashlib.sha256(value).digest()


def link(previous: bytes, partition: int, n: int, value_digest: bytes) -> bytes:
    return hashlib.sha256(
        DOMAIN + previous + partition.to_bytes(4, "big") + n.to_bytes(8, "big") + value_digest
    ).digest()


def encode_header(n: int, head: bytes) -> bytes:
    return n.to_bytes(8, "big") + head


def decode_header(raw: bytes) -> tuple[int, bytes] | None:
    """(n, head) of a header value; None for anything that is not one."""
    if not isinstance(raw, bytes | bytearray) or len(raw) != HEADER_BYTES:
        return None
    return int.from_bytes(raw[:8], "big"), bytes(raw[8:])


def header_of(headers: list[tuple[str, bytes]] | None) -> bytes | None:
    """The raw `pw-chain` header of a Kafka record's headers, if it has one."""
    for name, value in headers or ():
        if name == HEADER:
            return value
    return None


@dataclass(frozen=True, slots=True)
class Head:
    """A partition's chain after its n-th record (n = 0: nothing yet, head = GENESIS)."""

    n: int = 0
    head: bytes = GENESIS

    def next(self, partition: int, value_digest: bytes) -> Head:
        n = self.n + 1
        return Head(n, link(self.head, partition, n, value_digest))

    def to_json(self) -> dict[str, object]:
        return {"n": self.n, "head": self.head.hex()}



@dataclass
class Follower:
    """A partition's head as the committed log is read back (the processor's rebuild, the
    checkpointer): a record with a header sets it; a header-less record from before the
    chain is linked implicitly; a header-less record after a chained one was written by
    something other than the processor and is left out (counted in `foreign`), exactly
    as `verify` leaves it out after naming it, so both agree on every later link."""

    partition: int
    head: Head = Head()
    chained: bool = False
    foreign: int = 0

    def observe(self, value: bytes | None, raw_header: bytes | None) -> None:
        found = decode_header(raw_header) if raw_header is not None else None
        if found is not None:
            self.head, self.chained = Head(*found), True
        elif self.chained:
            self.foreign += 1
        else:
            self.head = self.head.next(self.partition, digest(value or b""))
