"""A pseudonymised export for regulators: the same money and power figures, no identities.

Every identifier is replaced by a keyed HMAC-SHA256 pseudonym: the same id gives the same
pseudonym throughout one export (so every join the audit and the report make still
holds), and exports made with two keys cannot be linked. Ids keep their structure where
the folds parse them: a task id `requester:batch:index` becomes `P(requester):O(batch):index`,
a claim or submission id keeps its `:c<n>` suffix, an event id its `/<i>` suffix, an
aggregate id its kind. Free text (titles, reasons) becomes `<n chars>`; payloads and
answers become `{"removed_bytes": n}` (the length of their JSON). Amounts, currencies,
instants, durations, kinds, counts, flags and qualifications are kept: they are the
figures. A field this module does not know is replaced too: an unknown string by an
opaque pseudonym, anything else but a number or a flag by its length.

The chain covers the original bytes, which this file no longer holds: the first line of
each record carries `digest`, the SHA-256 of the original record, and its `chain` header,
so `piecework verify` checks every link (docs/AUDIT.md says what that proves).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from audit.source import KafkaLog, Undecodable
from audit.verify import chain_fields
from schemas.chain import digest
from schemas.codec import event_to_plain
from schemas.positions import index_of, offset_of

MIN_KEY_BYTES, MAX_KEY_BYTES = 16, 4096
TICK_EVERY = 2_048
ACTOR_FIELDS = frozenset({"actor", "requester_id", "worker_id", "overturned_by"})
CLAIM_FIELDS = frozenset({"claim_id", "submission_id"})
REF_FIELDS = frozenset({"id", "cmd", "corr", "cause", "source_event_id"})
TEXT_FIELDS = frozenset({"title", "reason"})
KEPT_STRINGS = frozenset({"t", "kind", "currency"})
KEPT_LISTS = frozenset({"qualifications"})
ACTOR_AGGREGATES = frozenset({"requester", "worker"})


def read_key(path: str | Path) -> bytes:
    path = Path(path)
    size = path.stat().st_size
    if not MIN_KEY_BYTES <= size <= MAX_KEY_BYTES:
        raise ValueError(f"{path}: a pseudonymisation key holds {MIN_KEY_BYTES}-"
                         f"{MAX_KEY_BYTES} bytes (e.g. `head -c 32 /dev/urandom > "
                         f"{path.name}`), not {size}")  # fmt: skip
    return path.read_bytes()


class Pseudonymiser:
    def __init__(self, key: bytes) -> None:
        self.key = key

    def _mac(self, domain: bytes, value: str, size: int) -> str:
        mac = hmac.new(self.key, domain + b"\0" + value.encode(), hashlib.sha256)
        return mac.hexdigest()[:size]

    def actor(self, value: str) -> str:
        return "p" + self._mac(b"actor", value, 20)

    def opaque(self, value: str) -> str:
        return "o" + self._mac(b"opaque", value, 24)

    def task(self, value: str) -> str:
        parts = value.split(":")
        if len(parts) == 3 and parts[2].isdigit():
            return f"{self.actor(parts[0])}:{self.opaque(parts[1])}:{parts[2]}"
        return self.opaque(value)

    def claim(self, value: str) -> str:
        task, _, suffix = value.rpartition(":")
        if task and suffix.startswith("c") and suffix[1:].isdigit():
            return f"{self.task(task)}:{suffix}"
        return self.opaque(value)

    def ref(self, value: str) -> str:
        """An event id (`<command id>/<i>`) or a command, correlation or causation id."""
        base, sep, index = value.rpartition("/")
        if sep and index.isdigit():
            return f"{self.opaque(base)}/{index}"
        return self.opaque(value)

    def aggregate(self, value: str) -> str:
        kind, sep, rest = value.partition(":")
        if not sep:
            return self.opaque(value)
        if kind in ACTOR_AGGREGATES:
            return f"{kind}:{self.actor(rest)}"
        if kind == "task":
            return f"task:{self.task(rest)}"
        return f"{kind}:{self.opaque(rest)}"

    def field(self, name: str, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            if name in KEPT_STRINGS:
                return value
            if name in ACTOR_FIELDS:
                return self.actor(value)
            if name == "task_id":
                return self.task(value)
            if name in CLAIM_FIELDS:
                return self.claim(value)
            if name in REF_FIELDS:
                return self.ref(value)
            if name == "agg":
                return self.aggregate(value)
            if name in TEXT_FIELDS:
                return f"<{len(value)} chars>"
            return self.opaque(value)
        if name in KEPT_LISTS and isinstance(value, list | tuple):
            return list(value)
        return {"removed_bytes": len(json.dumps(value, ensure_ascii=False).encode())}

    def event(self, plain: dict[str, Any]) -> dict[str, Any]:
        out = {k: self.field(k, v) for k, v in plain.items() if k != "d"}
        out["d"] = {k: self.field(k, v) for k, v in plain.get("d", {}).items()}
        return out


def export_pseudonymised(log: KafkaLog, out: IO[str], key: bytes,
                         tick: Callable[[], None] | None = None) -> int:  # fmt: skip
    """Like audit.logfile.export, pseudonymised; each record's first line carries its
    original digest and chain header."""
    ps = Pseudonymiser(key)
    count = 0
    for count, item in enumerate(log.items(), 1):
        record = log.record
        first = isinstance(item, Undecodable) or index_of(item[1]) == 0
        line: dict[str, Any]
        if isinstance(item, Undecodable):
            line = {"partition": item.partition, "offset": item.offset,
                    "undecodable": {"code": item.code, "error": f"<{len(item.error)} chars>",
                                    "key": None, "value": None,
                                    "value_bytes": len(item.value or b"")}}  # fmt: skip
        else:
            partition, pos, env = item
            line = {"partition": partition, "offset": offset_of(pos), "index": index_of(pos),
                    **ps.event(event_to_plain(env))}  # fmt: skip
        if first and record is not None:
            line["chain"] = chain_fields(record.value, record.headers, None)["chain"]
            line["digest"] = digest(record.value or b"").hex()
        out.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False))
        out.write("\n")
        if tick is not None and count % TICK_EVERY == 0:
            tick()
    return count
