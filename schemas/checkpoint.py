"""A checkpoint: every events partition's chain head, its position and the money totals,
signed by the operator, for publishing outside the platform (as Certificate Transparency
logs publish signed tree heads). Pure: the signature itself is made in runtime.signing.

The signed bytes are the canonical JSON of the body (keys sorted, no spaces, ASCII), so
any tool can re-create them from the published document. `previous` is the SHA-256 of the
previous checkpoint's signed bytes: the checkpoints form a chain of their own, and one
that was withdrawn or replaced leaves a gap.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from schemas.chain import Head

VERSION = 1
MAX_DOCUMENT_BYTES = 1024 * 1024  # a published checkpoint read back is refused past this


class BadCheckpoint(ValueError):
    """A document that is not a checkpoint this version can check."""


@dataclass(frozen=True)
class PartitionMark:
    n: int  # chain records covered (the head is after the n-th)
    head: str  # hex
    offset: int  # the partition's next offset when the checkpoint was taken

    def to_head(self) -> Head:
        return Head(self.n, bytes.fromhex(self.head))


@dataclass(frozen=True)
class Checkpoint:
    topic: str
    at: int  # ms, the checkpointer's clock when it was taken
    partitions: dict[int, PartitionMark]
    totals: dict[str, dict[str, int]]  # per currency, consumers.views.ledger.ledger_totals
    previous: str = ""  # hex SHA-256 of the previous checkpoint's signed bytes
    version: int = field(default=VERSION)

    def body(self) -> dict[str, Any]:
        return {
            "version": self.version, "topic": self.topic, "at": self.at,
            "partitions": {str(p): {"n": m.n, "head": m.head, "offset": m.offset}
                           for p, m in sorted(self.partitions.items())},
            "totals": self.totals, "previous": self.previous,
        }  # fmt: skip

    def signed_bytes(self) -> bytes:
        return canonical(self.body())

    def heads(self) -> dict[int, Head]:
        return {p: m.to_head() for p, m in self.partitions.items()}


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def fingerprint(signed_bytes: bytes) -> str:
    return hashlib.sha256(signed_bytes).hexdigest()


def from_body(body: Any) -> Checkpoint:
    try:
        if body["version"] != VERSION:
            raise BadCheckpoint(f"checkpoint version {body['version']!r}, this reads {VERSION}")
        partitions = {
            int(p): PartitionMark(int(m["n"]), str(m["head"]), int(m["offset"]))
            for p, m in body["partitions"].items()
        }
        for m in partitions.values():
            if len(bytes.fromhex(m.head)) != 32 or m.n < 0:
                raise BadCheckpoint("a partition head is not 32 bytes of hex")
        totals = {str(c): {str(k): int(v) for k, v in t.items()}
                  for c, t in body["totals"].items()}  # fmt: skip
        return Checkpoint(str(body["topic"]), int(body["at"]), partitions, totals,
                          str(body.get("previous", "")))  # fmt: skip
    except BadCheckpoint:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadCheckpoint(f"not a checkpoint: {exc!r}") from exc


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    signature: str  # base64 Ed25519 signature of checkpoint.signed_bytes()
    key_id: str  # hex SHA-256 of the raw public key, first 16 bytes

    def to_json(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint.body(), "signature": self.signature,
                "key_id": self.key_id,
                "fingerprint": fingerprint(self.checkpoint.signed_bytes())}  # fmt: skip

    def document(self) -> bytes:
        return json.dumps(self.to_json(), indent=2, sort_keys=True).encode() + b"\n"


def parse_document(raw: bytes) -> SignedCheckpoint:
    """A published checkpoint, as `piecework checkpoint` prints it. Its signature is not
    checked here (runtime.signing.verify_checkpoint does)."""
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise BadCheckpoint(f"checkpoint document over {MAX_DOCUMENT_BYTES} bytes")
    try:
        obj = json.loads(raw)
        return SignedCheckpoint(from_body(obj["checkpoint"]), str(obj["signature"]),
                                str(obj.get("key_id", "")))  # fmt: skip
    except BadCheckpoint:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadCheckpoint(f"not a checkpoint document: {exc!r}") from exc
