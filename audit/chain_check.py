"""Check the hash chains of an events log, record by record (schemas.chain). Pure.

Fed each record in log order: its partition, offset, value digest and `pw-chain` header.
It names the first break of each partition and what it most likely is:

- `edited`: the record's chain count is the expected one, but its content does not hash
  to its chain value (its bytes changed after it was chained);
- `removed`: the count jumps forward and the missing records never show up;
- `reordered`: the count jumps forward and a skipped record shows up later;
- `inserted`: a record repeats an earlier count, or has no header after chained ones.

After a break it resynchronises on the record's own header, so one edit is one finding,
not a cascade. What a chain alone cannot see: a forger who recomputes every later link
(SHA-256 has no key), and records cut off the end. Both are caught against a signed
checkpoint (`expect`): its head must be reproduced at its count in every partition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.chain import Head


@dataclass
class Break:
    partition: int
    offset: int
    kind: str
    message: str
    missing: tuple[int, int] | None = None  # chain counts skipped (removed or reordered)

    def verdict(self) -> str:
        if self.partition < 0:  # a finding about the whole file (the money, a stray line)
            return f"{self.kind}: {self.message}"
        return f"{self.kind} at partition {self.partition} offset {self.offset}: {self.message}"

    def to_json(self) -> dict[str, object]:
        return {"partition": self.partition, "offset": self.offset, "kind": self.kind,
                "message": self.message}  # fmt: skip


@dataclass
class _Partition:
    head: Head = field(default_factory=Head)
    chained: bool = False  # a header was seen: header-less records are foreign from now on
    first_break: Break | None = None
    later_counts: set[int] = field(default_factory=set)  # counts seen after the break
    at_checkpoint: Head | None = None
    checkpoint_offset: int = -1
    last_offset: int = -1


class ChainCheck:
    def __init__(self, expect: dict[int, Head] | None = None) -> None:
        self.partitions: dict[int, _Partition] = {}
        self.expect = expect or {}
        self.records = 0
        self.breaks = 0
        self.unchained = 0  # records from before the chain: only a later link or a checkpoint
        self.order: list[Break] = []  # first breaks, in the order they were found

    def feed(self, partition: int, offset: int, value_digest: bytes,
             header: tuple[int, bytes] | None) -> None:  # fmt: skip
        self.records += 1
        state = self.partitions.setdefault(partition, _Partition())
        if state.first_break is not None and header is not None:
            state.later_counts.add(header[0])
        if header is not None and offset <= state.last_offset:  # (a file without chain
            # fields, from before the chain or made by a tool, need not follow offsets)
            self._break(state, partition, offset, "reordered",
                        f"offset {offset} comes after offset {state.last_offset}")  # fmt: skip
        state.last_offset = max(state.last_offset, offset)
        expected = state.head.next(partition, value_digest)
        if header is None:
            if state.chained:
                self._break(state, partition, offset, "inserted",
                            "a record without a chain header among chained records "
                            "(not written by the processor)")  # fmt: skip
                return  # outside the chain: the next record links to the one before
            self.unchained += 1
            self._advance(state, partition, expected)  # written before the chain existed
            return
        n, head = header
        state.chained = True
        if n == expected.n:
            if head != expected.head:
                self._break(state, partition, offset, "edited",
                            f"chain record {n}: its content does not hash to its chain "
                            "value")  # fmt: skip
            self._advance(state, partition, Head(n, head))
        elif n > expected.n:
            self._break(state, partition, offset, "removed",
                        f"chain records {expected.n}..{n - 1} are missing before this one",
                        (expected.n, n - 1))  # fmt: skip
            self._advance(state, partition, Head(n, head))
        else:  # an earlier count again: not part of this chain's sequence
            self._break(state, partition, offset, "inserted",
                        f"chain record {n} again after record {expected.n - 1}")  # fmt: skip

    def _advance(self, state: _Partition, partition: int, head: Head) -> None:
        state.head = head
        wanted = self.expect.get(partition)
        if wanted is not None and head.n == wanted.n:
            state.at_checkpoint, state.checkpoint_offset = head, state.last_offset

    def _break(self, state: _Partition, partition: int, offset: int, kind: str, message: str,
               missing: tuple[int, int] | None = None) -> None:  # fmt: skip
        self.breaks += 1
        if state.first_break is None:
            state.first_break = Break(partition, offset, kind, message, missing)
            self.order.append(state.first_break)

    def findings(self) -> list[Break]:
        """Each partition's first break (a removal whose records came later: reordered),
        then what the checkpoint, if any, says is missing or different."""
        found: list[Break] = []
        for b in self.order:
            state = self.partitions[b.partition]
            if b.kind == "removed" and b.missing is not None and any(
                b.missing[0] <= n <= b.missing[1] for n in state.later_counts
            ):
                b.kind = "reordered"
                b.message = f"chain record {b.missing[0]} comes later in the log than this one"
            found.append(b)
        for partition, wanted in sorted(self.expect.items()):
            if wanted.n == 0:
                continue
            state = self.partitions.get(partition, _Partition())
            at = state.at_checkpoint
            if at is None:
                found.append(Break(partition, state.last_offset, "truncated",
                                   f"the log ends at chain record {state.head.n}; the "
                                   f"checkpoint covers {wanted.n}"))  # fmt: skip
            elif at.head != wanted.head:
                found.append(Break(partition, state.checkpoint_offset, "rewritten",
                                   f"chain record {wanted.n} differs from the signed "
                                   "checkpoint: the records up to it are not the "
                                   "published ones"))  # fmt: skip
        return found

    def heads(self) -> dict[int, Head]:
        return {p: s.head for p, s in sorted(self.partitions.items())}
