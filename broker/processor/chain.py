"""The chain head the processor keeps for each events partition it owns (schemas.chain).

The processor is the only writer of the events topic (the importer writes only into an
empty one, docs/AUDIT.md), so it can extend each partition's chain as it sends: every
event record gets the `pw-chain` header of its link. The head moves on each send and is
marked committed when the transaction commits; an aborted transaction rolls it back to the
committed head, so an aborted record never enters the chain. After a restart or a
rebalance the partition is rebuilt from the log (read committed), and `observe` takes the
head from the last committed record's header.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from schemas.chain import (
    HEADER,
    Follower,
    Head,
    decode_header,
    digest,
    encode_header,
    header_of,
)

log = logging.getLogger(__name__)


@dataclass
class PartitionChain:
    partition: int
    head: Head = field(default_factory=Head)
    committed: Head = field(default_factory=Head)
    follower: Follower = field(init=False)

    def __post_init__(self) -> None:
        self.follower = Follower(self.partition)

    def observe(self, value: bytes | None, headers: list[tuple[str, bytes]] | None) -> None:
        """Fold one committed record read back from the log (rebuild): see Follower."""
        raw = header_of(headers)
        if raw is not None and decode_header(raw) is None:
            log.error("partition %s: malformed %s header", self.partition, HEADER)
        self.follower.observe(value, raw)
        self.head = self.committed = self.follower.head

    def stamp(self, value: bytes) -> list[tuple[str, bytes]]:
        """The headers for the next record of the open transaction (moves the head)."""
        self.head = self.head.next(self.partition, digest(value))
        return [(HEADER, encode_header(self.head.n, self.head.head))]

    def commit(self) -> None:
        self.committed = self.head

    def rollback(self) -> None:
        self.head = self.committed


class _HasChain(Protocol):
    chain: PartitionChain


def chain_committed(states: dict[int, _HasChain], batch: Iterable[int]) -> None:
    """The batch's transaction committed: its partitions' heads are now the log's."""
    for partition in batch:
        if partition in states:
            states[partition].chain.commit()


def chain_rolled_back(states: dict[int, _HasChain], batch: Iterable[int]) -> None:
    """The batch's transaction is being aborted: back to the last committed heads."""
    for partition in batch:
        if partition in states:
            states[partition].chain.rollback()
