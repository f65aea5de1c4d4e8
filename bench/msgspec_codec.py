"""A candidate codec, measured and not adopted: msgspec's C decoder in front of schemas.codec.

bench/codec_compare.py times it beside schemas.codec (docs/DESIGN.md, "Decisions by
measurement"): about 1.5x on decode + validate of a realistic log, under the 3x the
change had to earn. Kept here, out of the product, so the figure can be measured again.

The event and command classes stay the frozen dataclasses they are: a msgspec Struct is
generated from each (same fields, types and defaults, unknown fields refused), decoded
in C, then turned into the dataclass, whose __post_init__ checks run. Anything the fast
path does not take as it is (a type or version it does not know, a value of the wrong
type, a record that is not msgpack, a failed check) goes to schemas.codec, which decodes
it its own way: same results, same SchemaError messages, same upcasters. Free-form
values (payloads, answers: `object` fields) are left to the msgpack package, as the
codec does, so they come out identical (str or bytes keys only, its ext types). What
costs the time after the change is building the dataclasses and their checks, which
both paths do.
"""

import dataclasses
import functools
import typing
from collections.abc import Callable
from typing import Any

import msgpack
import msgspec

from schemas import codec
from schemas.catalogue import COMMANDS, EVENTS
from schemas.envelope import ROLES, CommandEnvelope, EventEnvelope

_Raw = msgspec.Raw
_UNSET = msgspec.UNSET
_unpack = functools.partial(msgpack.unpackb, raw=False, strict_map_key=True)


class EventStruct(msgspec.Struct):
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


class CommandStruct(msgspec.Struct):
    t: str
    v: int
    id: str
    actor: str
    role: str
    corr: str
    cause: str
    d: msgspec.Raw
    fp: str = ""


EVENTS_RECORD = msgspec.msgpack.Decoder(list[EventStruct] | EventStruct)
COMMAND_RECORD = msgspec.msgpack.Decoder(CommandStruct)
# Which of a struct's fields need turning into the dataclass's values: a free-form value
# (msgpack-decoded), a nested dataclass, a tuple of them.
_FREE, _NESTED, _MANY = 1, 2, 3


@functools.cache
def _shape(cls: type) -> tuple[type, tuple[tuple[str, int, Any], ...]]:
    """(the Struct of `cls`, (field, conversion, nested class) per field), once per class."""
    hints = typing.get_type_hints(cls)
    fields, plan = [], []
    for f in dataclasses.fields(cls):
        kind, how, nested = hints[f.name], 0, None
        args = typing.get_args(kind)
        if kind is object or kind is Any:
            kind, how = _Raw, _FREE
        elif dataclasses.is_dataclass(kind):
            nested, how = kind, _NESTED
            kind = _shape(kind)[0]
        elif typing.get_origin(kind) is tuple and args and dataclasses.is_dataclass(args[0]):
            nested, how = args[0], _MANY
            kind = tuple[_shape(args[0])[0], ...]  # type: ignore[valid-type]
        plan.append((f.name, how, nested))
        if f.default is not dataclasses.MISSING:
            # a free-form field left out keeps the dataclass's default (UNSET: not passed)
            fields.append((f.name, kind | msgspec.UnsetType, _UNSET) if how == _FREE
                          else (f.name, kind, f.default))  # fmt: skip
        elif f.default_factory is not dataclasses.MISSING:
            fields.append((f.name, kind, msgspec.field(default_factory=f.default_factory)))
        else:
            fields.append((f.name, kind))
    struct = msgspec.defstruct(f"Fast{cls.__name__}", fields, forbid_unknown_fields=True)
    return struct, tuple(plan)


def _build(cls: type, value: Any) -> Any:
    kw = {}
    for name, how, nested in _shape(cls)[1]:
        v = getattr(value, name)
        if how == _FREE:
            if v is _UNSET:
                continue
            v = _unpack(v)
        elif how == _NESTED:
            v = _build(nested, v)
        elif how == _MANY:
            v = tuple(_build(nested, item) for item in v)
        kw[name] = v
    return cls(**kw)


@functools.cache
def _decoder(cls: type) -> Callable[[Any], Any]:
    struct_decode = msgspec.msgpack.Decoder(_shape(cls)[0]).decode
    return lambda raw: _build(cls, struct_decode(raw))


def body(kind: str, name: str, version: int, raw: Any) -> Any:
    """The event (kind "e") or command ("c") `name` decoded from `raw`, or None when the
    codec's own path must decide (unknown type, another version, anything off)."""
    cls = (EVENTS if kind == "e" else COMMANDS).lookup(name)
    if cls is None or version != cls.VERSION:
        return None
    try:
        return _decoder(cls)(raw)
    except Exception:  # the codec's own path raises the precise error
        return None


def decode_events(raw: bytes) -> list[EventEnvelope]:
    """schemas.codec.decode_events, through the fast path when it takes the record."""
    try:
        found = EVENTS_RECORD.decode(raw)
    except Exception:  # not for the fast path: the codec says why
        return codec.decode_events(raw)
    if type(found) is not list:
        found = [found]
    elif not found or len(found) > codec.MAX_EVENTS_PER_RECORD:
        return codec.decode_events(raw)
    envs = []
    for e in found:
        event = body("e", e.t, e.v, e.d)
        if event is None:
            return codec.decode_events(raw)
        envs.append(EventEnvelope(event_id=e.id, aggregate_id=e.agg, sequence=e.seq,
                                  occurred_at=e.at, command_id=e.cmd, correlation_id=e.corr,
                                  causation_id=e.cause, actor_id=e.actor, event=event))  # fmt: skip
    return envs


def decode_command(raw: bytes) -> CommandEnvelope:
    """schemas.codec.decode_command, through the fast path when it takes the record."""
    try:
        c = COMMAND_RECORD.decode(raw)
    except Exception:
        return codec.decode_command(raw)
    command = body("c", c.t, c.v, c.d) if c.role in ROLES and 1 <= len(c.id) <= 200 else None
    if command is None:
        return codec.decode_command(raw)
    return CommandEnvelope(command_id=c.id, actor_id=c.actor, actor_role=c.role,
                           correlation_id=c.corr, causation_id=c.cause, command=command,
                           fingerprint=c.fp)  # fmt: skip
