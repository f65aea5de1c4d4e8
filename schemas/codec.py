"""msgpack codec for the three record kinds on the wire. The only place bytes meet types.

Decoding never trusts its input: a record that is not msgpack, has an unknown type or
version, or fails a field rule raises SchemaError, which consumers route to dead letters.

Events and commands are msgspec Structs (schemas.catalogue.Record), decoded and checked
in C: the envelope first, its body kept raw, then the body by a decoder of its class
(docs/DESIGN.md, "Codec"). The body's class checks every type, refuses unknown and
missing fields and runs its __post_init__ rules. A record that path refuses is decoded
again by the reference path (msgpack, then schemas.fields), which words the refusal as
the codec always has ("FundsDeposited.amount: expected an integer, got str") with its
code; refusals are rare, so they may be slow. Both paths share the upcasters. Replies
stay on the msgpack package.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import msgpack
import msgspec

from schemas import free_form
from schemas.catalogue import COMMANDS, EVENTS, Catalogue
from schemas.envelope import ROLES, CommandEnvelope, EventEnvelope, Reply
from schemas.errors import SchemaError
from schemas.fields import from_plain, to_plain
from schemas.positions import Positioned, position
from schemas.upcasters import upcast


def _pack(obj: dict[str, Any]) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


# Encodes a Struct as a map of its fields in declaration order and tuples as arrays: the
# bytes msgpack.packb wrote for the same plain map (tests/unit/test_codec_bytes.py).
_encode = msgspec.msgpack.Encoder().encode


class _EventWire(msgspec.Struct):
    """An events record's envelope; the body `d` decoded once its type is known. Unknown
    envelope keys are ignored, as they always were (a newer writer may add one)."""

    t: str
    v: int
    id: str
    agg: str
    seq: int
    at: int
    cmd: str
    corr: str
    cause: str
    actor: str
    d: msgspec.Raw


class _CommandWire(msgspec.Struct):
    t: str
    v: int
    id: str
    actor: str
    role: str
    corr: str
    cause: str
    d: msgspec.Raw
    fp: str = ""


_decode_events_record = msgspec.msgpack.Decoder(list[_EventWire] | _EventWire).decode
_decode_command_record = msgspec.msgpack.Decoder(_CommandWire).decode
_decode_plain_body = msgspec.msgpack.Decoder(dict[str, Any]).decode


@cache
def _body_decoder(cls: type) -> Callable[[Any], Any]:
    return msgspec.msgpack.Decoder(cls).decode


def _fast_body(catalogue: Catalogue, name: str, version: int, raw: msgspec.Raw) -> Any:
    cls = catalogue.lookup(name)
    if cls is None:
        raise SchemaError(f"unknown {catalogue.kind} type {name!r}", "unknown_type")
    if version == cls.VERSION:  # type: ignore[attr-defined]
        record = _body_decoder(cls)(raw)
    else:  # an older shape: as plain data, lifted by the upcasters, checked as a new one
        data = upcast(name, version, cls.VERSION, _decode_plain_body(raw))  # type: ignore[attr-defined]
        record = msgspec.convert(data, cls, strict=True)
    free_form.check(record)
    return record


def _refused(exc: Exception, reference: Callable[[bytes], Any], raw: bytes) -> SchemaError:
    """The SchemaError for a record the fast path refused: the reference path's own (the
    wording and code the codec always gave), else one from what the fast path said."""
    try:
        reference(raw)
    except SchemaError as said:
        return said
    if isinstance(exc, SchemaError):
        return exc
    cause = exc.__cause__  # a rule of the class, raised in its __post_init__
    code = cause.code if isinstance(cause, SchemaError) else "invalid_record"
    return SchemaError(str(exc), code)


def _unpack_any(raw: bytes) -> Any:
    try:
        return msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for garbage
        raise SchemaError(f"not a msgpack record: {exc}", "undecodable") from exc


def _unpack(raw: bytes) -> dict[str, Any]:
    obj = _unpack_any(raw)
    if not isinstance(obj, dict):
        raise SchemaError("record is not a map", "undecodable")
    return obj


def _field(obj: dict[str, Any], key: str, kind: type) -> Any:
    value = obj.get(key)
    if type(value) is not kind:
        raise SchemaError(f"envelope field {key!r} missing or not {kind.__name__}", "bad_envelope")
    return value


def _optional(obj: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    return _field(obj, key, kind) if key in obj else default


def _body(catalogue: Catalogue, obj: dict[str, Any]) -> Any:
    name = _field(obj, "t", str)
    cls = catalogue.lookup(name)
    if cls is None:
        raise SchemaError(f"unknown {catalogue.kind} type {name!r}", "unknown_type")
    data = upcast(name, _field(obj, "v", int), cls.VERSION, _field(obj, "d", dict))
    record = from_plain(cls, data)
    free_form.check(record)
    return record


def _event_map(env: EventEnvelope, body: Any) -> dict[str, Any]:
    """The envelope's keys on the wire, around `body` (the Struct, or its plain form)."""
    return {
        "t": env.event.TYPE,
        "v": env.event.VERSION,
        "id": env.event_id,
        "agg": env.aggregate_id,
        "seq": env.sequence,
        "at": env.occurred_at,
        "cmd": env.command_id,
        "corr": env.correlation_id,
        "cause": env.causation_id,
        "actor": env.actor_id,
        "d": body,
    }


def encode_event(env: EventEnvelope) -> bytes:
    return _encode(_event_map(env, env.event))


def event_to_plain(env: EventEnvelope) -> dict[str, Any]:
    return _event_map(env, to_plain(env.event))


def event_from_plain(obj: dict[str, Any]) -> EventEnvelope:
    return EventEnvelope(
        event_id=_field(obj, "id", str),
        aggregate_id=_field(obj, "agg", str),
        sequence=_field(obj, "seq", int),
        occurred_at=_field(obj, "at", int),
        command_id=_field(obj, "cmd", str),
        correlation_id=_field(obj, "corr", str),
        causation_id=_field(obj, "cause", str),
        actor_id=_field(obj, "actor", str),
        event=_body(EVENTS, obj),
    )


def _event_of(e: _EventWire) -> EventEnvelope:
    return EventEnvelope(
        event_id=e.id,
        aggregate_id=e.agg,
        sequence=e.seq,
        occurred_at=e.at,
        command_id=e.cmd,
        correlation_id=e.corr,
        causation_id=e.cause,
        actor_id=e.actor,
        event=_fast_body(EVENTS, e.t, e.v, e.d),
    )


def decode_event(raw: bytes) -> EventEnvelope:
    """One event, alone in its record (a map)."""
    try:
        found = _decode_events_record(raw)
        if type(found) is not _EventWire:
            raise SchemaError("record is not a map", "undecodable")
        return _event_of(found)
    except Exception as exc:  # the reference path words every refusal
        raise _refused(exc, _reference_event, raw) from exc


def _reference_event(raw: bytes) -> EventEnvelope:
    return event_from_plain(_unpack(raw))


# An events record is a msgpack array of the events one decision appended, in order: one
# Kafka send per decision instead of one per event (kafka-python spends ~40 us per send,
# which capped a 500-task post at ~10k tasks/s), and one message per decision for the
# views' Faust consumer. A lone map (one event, the first format) still decodes.
# The bounds keep a record under Kafka's 1 MiB limit and its indexes in schemas.positions.
MAX_EVENTS_PER_RECORD = 4_096
MAX_RECORD_BYTES = 512 * 1024
_ARRAY_HEADER = msgpack.Packer().pack_array_header


def encode_event_records(envs: Sequence[EventEnvelope]) -> list[bytes]:
    """The records for a decision's events: usually one; more only past the bounds."""
    records: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for env in envs:
        packed = encode_event(env)
        if chunk and (len(chunk) >= MAX_EVENTS_PER_RECORD or size + len(packed) > MAX_RECORD_BYTES):
            records.append(_ARRAY_HEADER(len(chunk)) + b"".join(chunk))
            chunk, size = [], 0
        chunk.append(packed)
        size += len(packed)
    if chunk:
        records.append(_ARRAY_HEADER(len(chunk)) + b"".join(chunk))
    return records


def decode_events(raw: bytes) -> list[EventEnvelope]:
    """Every event of one record, in order; SchemaError if any of them is invalid (the
    record is dead-lettered whole: its events were appended by one decision)."""
    try:
        found = _decode_events_record(raw)
        if type(found) is _EventWire:
            return [_event_of(found)]
        if not found or len(found) > MAX_EVENTS_PER_RECORD:
            raise SchemaError(f"events record holds {len(found)} events", "undecodable")
        return [_event_of(e) for e in found]
    except Exception as exc:  # the reference path words every refusal
        raise _refused(exc, _reference_events, raw) from exc


def _reference_events(raw: bytes) -> list[EventEnvelope]:
    obj = _unpack_any(raw)
    if isinstance(obj, dict):
        return [event_from_plain(obj)]
    if not isinstance(obj, list) or not obj:
        raise SchemaError("events record is neither an event nor a list of them", "undecodable")
    if len(obj) > MAX_EVENTS_PER_RECORD:
        raise SchemaError(f"events record holds {len(obj)} events", "undecodable")
    events = []
    for item in obj:
        if not isinstance(item, dict):
            raise SchemaError("events record holds a non-map item", "undecodable")
        events.append(event_from_plain(item))
    return events


def decode_positioned(partition: int, offset: int, raw: bytes) -> list[Positioned]:
    """(partition, position, event) for each event of the record at `offset`."""
    return [(partition, position(offset, i), env) for i, env in enumerate(decode_events(raw))]


def command_to_plain(env: CommandEnvelope) -> dict[str, Any]:
    return {
        "t": env.command.TYPE,
        "v": env.command.VERSION,
        "id": env.command_id,
        "actor": env.actor_id,
        "role": env.actor_role,
        "corr": env.correlation_id,
        "cause": env.causation_id,
        "d": to_plain(env.command),
        # optional keys are written only when set: older readers and records stay alike
        **({"fp": env.fingerprint} if env.fingerprint else {}),
    }


def encode_command(env: CommandEnvelope) -> bytes:
    return _encode(
        {
            "t": env.command.TYPE,
            "v": env.command.VERSION,
            "id": env.command_id,
            "actor": env.actor_id,
            "role": env.actor_role,
            "corr": env.correlation_id,
            "cause": env.causation_id,
            "d": env.command,
            **({"fp": env.fingerprint} if env.fingerprint else {}),
        }
    )


# What both decoding paths require of a command's envelope beyond its field types, in
# the order the reference path reads the fields (its refusal is the one worded).
def _check_role(role: str) -> str:
    if role not in ROLES:
        raise SchemaError(f"unknown actor role {role!r}", "bad_envelope")
    return role


def _check_command_id(command_id: str) -> str:
    if not 1 <= len(command_id) <= 200:
        raise SchemaError("command id must be 1-200 characters", "bad_envelope")
    return command_id


def decode_command(raw: bytes) -> CommandEnvelope:
    try:
        c = _decode_command_record(raw)
        _check_role(c.role)
        _check_command_id(c.id)
        return CommandEnvelope(
            command_id=c.id,
            actor_id=c.actor,
            actor_role=c.role,
            correlation_id=c.corr,
            causation_id=c.cause,
            command=_fast_body(COMMANDS, c.t, c.v, c.d),
            fingerprint=c.fp,
        )
    except Exception as exc:  # the reference path words every refusal
        raise _refused(exc, _reference_command, raw) from exc


def _reference_command(raw: bytes) -> CommandEnvelope:
    obj = _unpack(raw)
    role = _check_role(_field(obj, "role", str))
    command_id = _check_command_id(_field(obj, "id", str))
    return CommandEnvelope(
        command_id=command_id,
        actor_id=_field(obj, "actor", str),
        actor_role=role,
        correlation_id=_field(obj, "corr", str),
        causation_id=_field(obj, "cause", str),
        command=_body(COMMANDS, obj),
        fingerprint=_optional(obj, "fp", str, ""),
    )


def encode_reply(reply: Reply) -> bytes:
    return _pack(
        {
            "cmd": reply.command_id,
            "ok": reply.accepted,
            "code": reply.code,
            "msg": reply.message,
            "events": list(reply.event_ids),
            "result": reply.result,
            "at": reply.decided_at,
            **({"fp": reply.fingerprint} if reply.fingerprint else {}),
            **({"dup": True} if reply.replayed else {}),
        }
    )


def decode_reply(raw: bytes) -> Reply:
    obj = _unpack(raw)
    return Reply(
        command_id=_field(obj, "cmd", str),
        accepted=_field(obj, "ok", bool),
        code=_field(obj, "code", str),
        message=_field(obj, "msg", str),
        event_ids=tuple(_field(obj, "events", list)),
        result=_field(obj, "result", dict),
        decided_at=_field(obj, "at", int),
        fingerprint=_optional(obj, "fp", str, ""),
        replayed=_optional(obj, "dup", bool, False),
    )
