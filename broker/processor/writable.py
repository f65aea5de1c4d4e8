"""A decision's records, encoded and measured before anything is applied or sent.

Kafka refuses a record over its size limit, and retrying cannot change that: a command
whose events, outbox commands or reply cannot be written is refused here, once, with a
reason, and the partition goes on (issue 11: one oversized answer used to abort and
retry its transaction forever). Pure: no I/O, so every refusal can be unit-tested.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.domain.shard import Decision
from schemas.codec import encode_command, encode_event_records, encode_reply
from schemas.envelope import Reply
from schemas.limits import MAX_RECORD_BYTES


@dataclass(frozen=True, slots=True)
class EncodedDecision:
    events: list[bytes]
    outbox: list[tuple[bytes, bytes]]  # (partition key, command record)
    reply: bytes


class Unwritable(Exception):
    """The decision cannot become records the broker accepts."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def encode_decision(decision: Decision, limit: int = MAX_RECORD_BYTES) -> EncodedDecision:
    try:
        events = encode_event_records(decision.events)
        outbox = [(c.partition_key.encode(), encode_command(c)) for c in decision.outbox]
        reply = encode_reply(decision.reply)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        # msgpack's refusals (ints past 64 bits, lone surrogates, nesting past its limit),
        # and nesting deeper than the interpreter's own limit
        raise Unwritable("unencodable", f"the command's events cannot be encoded: {exc}") from exc
    largest = max([len(reply), *map(len, events), *(len(v) for _, v in outbox)])
    if largest > limit:
        raise Unwritable("too_large", f"the command would write a record of {largest} bytes;"
                                      f" the log takes at most {limit}")  # fmt: skip
    return EncodedDecision(events, outbox, reply)


def refused(command_id: str, exc: Unwritable, now: int, fingerprint: str) -> Reply:
    return Reply(command_id, False, exc.code, exc.message, decided_at=now,
                 fingerprint=fingerprint)  # fmt: skip
