"""The chain fields of an export, and `piecework verify FILE`: check them on their own.

Export adds to the first line of each Kafka record (the line with index 0, or the raw line
of an undecodable record) `"chain": {"n": n, "head": hex}`, the record's `pw-chain`
header, or `"chain": null` for a record written before the chain existed. The record's
value is not stored twice: verify re-packs the record's lines (the plain maps the codec
packs, in order, as one msgpack array) and hashes that. When this does not reproduce the
original bytes (a record of an older codec version, upcast on export), the line also
carries `"value": hex`, the original bytes, and verify checks that they decode to the
lines. A pseudonymised export carries `"digest": hex` (H(value) of the original record)
instead, since its lines no longer hold the original content.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
from kafka.consumer.fetcher import ConsumerRecord

from audit.chain_check import Break, ChainCheck
from audit.source import FileLog, Item, KafkaLog, Undecodable
from consumers.engine.runner import fold_log
from consumers.views import registry
from consumers.views.ledger import ledger_totals
from schemas.chain import Head, decode_header, digest, header_of
from schemas.codec import decode_events, event_to_plain
from schemas.errors import SchemaError
from schemas.positions import index_of, offset_of

_ARRAY_HEADER = msgpack.Packer().pack_array_header
POSITION_KEYS = ("partition", "offset", "index", "chain", "value", "digest")


def pack_plain(maps: Sequence[dict[str, Any]]) -> bytes:
    """The events record the codec writes for these plain event maps, in order."""
    return _ARRAY_HEADER(len(maps)) + b"".join(
        msgpack.packb(m, use_bin_type=True) for m in maps
    )


def chain_fields(value: bytes | None, headers: list[tuple[str, bytes]] | None,
                 plain: Sequence[dict[str, Any]] | None) -> dict[str, Any]:  # fmt: skip
    """What export adds to a record's first line: its chain header, and its original bytes
    when re-packing its lines (`plain`; None for a raw line) would not reproduce them."""
    raw = header_of(headers)
    found = decode_header(raw) if raw is not None else None
    fields: dict[str, Any] = {
        "chain": None if found is None else {"n": found[0], "head": found[1].hex()}
    }
    if plain is not None and value is not None and pack_plain(plain) != value:
        fields["value"] = value.hex()
    return fields


@dataclass
class FileRecord:
    partition: int
    offset: int
    line: int
    value_digest: bytes
    header: tuple[int, bytes] | None
    problem: str = ""  # a line that cannot be part of any record


MAX_N = (1 << 63) - 1  # a chain count fits the header's 8 bytes
MAX_PARTITION = (1 << 31) - 1  # Kafka's partition numbers (and the link's 4 bytes)


def _header(obj: dict[str, Any]) -> tuple[int, bytes] | None:
    """The line's chain field: None when absent or null (a record from before the chain);
    ValueError when it is there but is not a chain header (an edited line)."""
    chain = obj.get("chain")
    if chain is None:
        return None
    n = chain.get("n") if isinstance(chain, dict) else None
    head = chain.get("head") if isinstance(chain, dict) else None
    if type(n) is not int or not 0 < n <= MAX_N or not isinstance(head, str):
        raise ValueError("its chain field is not {n: 1.., head: hex}")
    found = bytes.fromhex(head)
    if len(found) != 32:
        raise ValueError("its chain head is not 32 bytes")
    return n, found


def _place(obj: Any) -> tuple[int, int]:
    partition, offset = obj["partition"], obj["offset"]
    if type(partition) is not int or type(offset) is not int:
        raise TypeError("partition and offset must be integers")
    if not 0 <= partition <= MAX_PARTITION or offset < 0:
        raise ValueError(f"no Kafka record sits at partition {partition} offset {offset}")
    return partition, offset


def _digest_of(first: dict[str, Any], maps: list[dict[str, Any]]) -> bytes:
    if "digest" in first:
        given = bytes.fromhex(first["digest"])  # TypeError, ValueError: an unreadable line
        if len(given) != 32:
            raise ValueError("its digest is not 32 bytes")
        return given
    raw = first.get("undecodable")
    if isinstance(raw, dict):
        return digest(bytes.fromhex(raw.get("value") or ""))
    packed = pack_plain(maps)
    original = first.get("value")
    if isinstance(original, str):
        value = bytes.fromhex(original)
        try:  # the original bytes count only if they still say what the lines say
            said = pack_plain([event_to_plain(e) for e in decode_events(value)])
        except (SchemaError, ValueError, TypeError, RecursionError):
            said = b""
        return digest(value) if said == packed else digest(packed)
    return digest(packed)


def file_records(path: str | Path) -> Iterator[FileRecord]:
    """The Kafka records of an export, rebuilt from its lines (a record's lines are
    consecutive and share partition and offset)."""
    group: list[dict[str, Any]] = []
    start = 0

    def flush() -> FileRecord:
        first = group[0]
        maps = [{k: v for k, v in m.items() if k not in POSITION_KEYS} for m in group]
        try:
            value_digest = _digest_of(first, maps)
            header = _header(first)
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            return FileRecord(first["partition"], first["offset"], start, b"", None,
                              f"line {start}: {exc}")  # fmt: skip
        return FileRecord(first["partition"], first["offset"], start, value_digest, header)

    with Path(path).open("rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                place = _place(obj)
            except (ValueError, KeyError, TypeError, RecursionError) as exc:
                if group:
                    yield flush()
                    group = []
                yield FileRecord(-1, -1, number, b"", None, f"line {number}: {exc}")
                continue
            new_record = (
                not group
                or (group[0]["partition"], group[0]["offset"]) != place
                or "undecodable" in obj
                or "undecodable" in group[0]
                or obj.get("index", 0) == 0
            )
            if new_record:
                if group:
                    yield flush()
                group, start = [], number
            group.append(obj)
    if group:
        yield flush()


@dataclass
class Verdict:
    records: int
    findings: list[Break]
    heads: dict[int, Head]
    checkpoint: bool
    unchained: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def line(self) -> str:
        if not self.findings:
            covered = (" and reproduces the signed checkpoint (heads and money totals)"
                       if self.checkpoint else "")  # fmt: skip
            old = (f" ({self.unchained:,} without a chain header, from before the chain: "
                   "only a later chained record or a checkpoint covers them)"
                   if self.unchained else "")  # fmt: skip
            return f"OK: {self.records:,} records, every partition's chain unbroken{covered}{old}"
        return f"TAMPERED: {self.findings[0].verdict()}"

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "records": self.records, "verdict": self.line(),
            "findings": [b.to_json() for b in self.findings],
            "heads": {str(p): h.to_json() for p, h in self.heads.items()},
            "checkpoint": self.checkpoint, "unchained": self.unchained,
        }  # fmt: skip


def verify_file(path: str | Path, expect: dict[int, Head] | None = None,
                totals: dict[str, dict[str, int]] | None = None) -> Verdict:  # fmt: skip
    """The file's chains, and with a checkpoint (`expect`, `totals`) its heads and then the
    money: the ledger totals of the file's events up to the checkpoint must be the signed
    ones, which ties even a pseudonymised file's amounts (not covered by its digests) to
    the signature."""
    check = ChainCheck(expect)
    problems: list[Break] = []
    for record in file_records(path):
        if record.problem:
            problems.append(Break(record.partition, record.offset, "unreadable", record.problem))
            continue
        check.feed(record.partition, record.offset, record.value_digest, record.header)
    findings = problems + check.findings()
    if expect is not None and totals is not None and not findings:
        covered = {p: s.checkpoint_offset for p, s in check.partitions.items()
                   if s.at_checkpoint is not None}  # fmt: skip
        findings += money_findings(money_up_to(path, covered), totals)
    return Verdict(check.records, findings, check.heads(), bool(expect),
                   check.unchained)  # fmt: skip


def money_up_to(path: str | Path, covered: dict[int, int]) -> dict[str, dict[str, int]]:
    """consumers.views.ledger's totals over the file's events at or before `covered`
    (partition -> the offset of its last record under the checkpoint)."""
    items = (item for item in FileLog(path).items()
             if type(item) is tuple and offset_of(item[1]) <= covered.get(item[0], -1))  # fmt: skip
    return ledger_totals(fold_log(items, None, {"ledger": registry.BY_NAME["ledger"].project}))


def money_findings(found: dict[str, dict[str, int]],
                   signed: dict[str, dict[str, int]]) -> list[Break]:  # fmt: skip
    for currency in sorted(set(found) | set(signed)):
        mine, theirs = found.get(currency, {}), signed.get(currency, {})
        for name in sorted(set(mine) | set(theirs)):
            if mine.get(name, 0) != theirs.get(name, 0):
                return [Break(-1, -1, "money", f"{currency} {name}: the file's events up to "
                              f"the checkpoint give {mine.get(name, 0)}, the signed "
                              f"checkpoint {theirs.get(name, 0)}")]  # fmt: skip
    return []


def kafka_chain_fields(log: KafkaLog) -> Callable[[Item], dict[str, Any]]:
    """The chain fields of each record's first line, for `export` from a KafkaLog."""

    def fields(item: Item) -> dict[str, Any]:
        record = log.record
        if record is None:
            return {}
        if isinstance(item, Undecodable):
            return chain_fields(record.value, record.headers, None)
        if index_of(item[1]) != 0:
            return {}
        plain = [event_to_plain(found[2]) for found in log.found]
        return chain_fields(record.value, record.headers, plain)

    return fields


def follow_live(log: KafkaLog) -> ChainCheck:
    """A chain check fed by every record the log reads (the live audit)."""
    check = ChainCheck()

    def feed(record: ConsumerRecord) -> None:
        raw = header_of(record.headers)
        check.feed(record.partition, record.offset, digest(record.value or b""),
                   decode_header(raw) if raw is not None else None)  # fmt: skip

    log.on_record = feed
    log.chain = check  # a parallel replay runs the check in its workers and merges it here
    return check
