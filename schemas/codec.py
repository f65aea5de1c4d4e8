"""msgpack codec for the three record kinds on the wire. The only place bytes meet types.

Decoding never trusts its input: a record that is not msgpack, has an unknown type or
version, or fails a field rule raises SchemaError, which consumers route to dead letters.
"""

from __future__ import annotations

from typing import Any

import msgpack

from schemas.catalogue import COMMANDS, EVENTS, Catalogue
from schemas.envelope import ROLES, CommandEnvelope, EventEnvelope, Reply
from schemas.errors import SchemaError
from schemas.fields import from_plain, to_plain
from schemas.upcasters import upcast


def _pack(obj: dict[str, Any]) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def _unpack(raw: bytes) -> dict[str, Any]:
    try:
        obj = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for garbage
        raise SchemaError(f"not a msgpack record: {exc}", "undecodable") from exc
    if not isinstance(obj, dict):
        raise SchemaError("record is not a map", "undecodable")
    return obj


def _field(obj: dict[str, Any], key: str, kind: type) -> Any:
    value = obj.get(key)
    if type(value) is not kind:
        raise SchemaError(f"envelope field {key!r} missing or not {kind.__name__}", "bad_envelope")
    return value


def _body(catalogue: Catalogue, obj: dict[str, Any]) -> Any:
    name = _field(obj, "t", str)
    cls = catalogue.lookup(name)
    if cls is None:
        raise SchemaError(f"unknown {catalogue.kind} type {name!r}", "unknown_type")
    data = upcast(name, _field(obj, "v", int), cls.VERSION, _field(obj, "d", dict))
    return from_plain(cls, data)


def encode_event(env: EventEnvelope) -> bytes:
    return _pack(event_to_plain(env))


def event_to_plain(env: EventEnvelope) -> dict[str, Any]:
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
        "d": to_plain(env.event),
    }


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


def decode_event(raw: bytes) -> EventEnvelope:
    return event_from_plain(_unpack(raw))


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
    }


def encode_command(env: CommandEnvelope) -> bytes:
    return _pack(command_to_plain(env))


def decode_command(raw: bytes) -> CommandEnvelope:
    obj = _unpack(raw)
    role = _field(obj, "role", str)
    if role not in ROLES:
        raise SchemaError(f"unknown actor role {role!r}", "bad_envelope")
    command_id = _field(obj, "id", str)
    if not 1 <= len(command_id) <= 200:
        raise SchemaError("command id must be 1-200 characters", "bad_envelope")
    return CommandEnvelope(
        command_id=command_id,
        actor_id=_field(obj, "actor", str),
        actor_role=role,
        correlation_id=_field(obj, "corr", str),
        causation_id=_field(obj, "cause", str),
        command=_body(COMMANDS, obj),
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
    )
