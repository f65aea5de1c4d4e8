"""Type-driven conversion between models and plain values (dicts, lists, ints).

A model is a frozen dataclass (API bodies and answers) or a msgspec Struct (events and
commands, schemas.catalogue.Record): `fields_of` reads either. Plain values are what
msgpack and JSON carry. Each model's field annotations are compiled once into converters
that check the type of every incoming value, so a record with a wrong or missing field is
refused with a precise reason instead of half-built. The codec decodes records with
msgspec; this is the API's path for request bodies and the codec's reference path that
words its refusals (schemas/codec.py).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any, NamedTuple

import msgspec

from schemas.errors import SchemaError


class Field(NamedTuple):
    name: str
    required: bool  # no default: a plain value must carry it


def is_model(value: Any) -> bool:
    """A dataclass or Struct, the class itself or an instance."""
    cls = value if isinstance(value, type) else type(value)
    return issubclass(cls, msgspec.Struct) or dataclasses.is_dataclass(cls)


@cache
def fields_of(cls: type) -> tuple[Field, ...]:
    """The fields of a dataclass or Struct, in declaration order."""
    if issubclass(cls, msgspec.Struct):
        return tuple(Field(f.name, f.required) for f in msgspec.structs.fields(cls))
    return tuple(
        Field(f.name, f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
        for f in dataclasses.fields(cls)
    )


# A converter takes the value and where it sits: a path (a str, or (parent, name/index)
# pairs) rendered into text only when something is wrong, never on the happy path.
Converter = Callable[[Any, Any], Any]


def _at(path: Any) -> str:
    if isinstance(path, tuple):
        parent, part = path
        return f"{_at(parent)}[{part}]" if isinstance(part, int) else f"{_at(parent)}.{part}"
    return str(path)


def _check_int(value: Any, where: str) -> int:
    # bool is an int subclass; a True amount is a bug, not a 1.
    if type(value) is not int:
        raise SchemaError(f"{_at(where)}: expected an integer, got {type(value).__name__}")
    return value


def _check_str(value: Any, where: str) -> str:
    if type(value) is not str:
        raise SchemaError(f"{_at(where)}: expected a string, got {type(value).__name__}")
    return value


def _check_bool(value: Any, where: str) -> bool:
    if type(value) is not bool:
        raise SchemaError(f"{_at(where)}: expected true/false, got {type(value).__name__}")
    return value


def _any(value: Any, where: str) -> Any:
    return value


def _optional(inner: Converter) -> Converter:
    def convert(value: Any, where: str) -> Any:
        return None if value is None else inner(value, where)

    return convert


def _tuple_of(inner: Converter) -> Converter:
    def convert(value: Any, where: str) -> tuple:
        if not isinstance(value, list | tuple):
            raise SchemaError(f"{_at(where)}: expected a list, got {type(value).__name__}")
        return tuple(inner(item, (where, i)) for i, item in enumerate(value))

    return convert


def _dict_of(key: Converter, val: Converter) -> Converter:
    def convert(value: Any, where: str) -> dict:
        if not isinstance(value, dict):
            raise SchemaError(f"{_at(where)}: expected an object, got {type(value).__name__}")
        return {key(k, (where, "key")): val(v, (where, repr(k))) for k, v in value.items()}

    return convert


def _nested(cls: type) -> Converter:
    def convert(value: Any, where: Any) -> Any:
        if isinstance(value, cls):
            return value
        return from_plain(cls, value, where)

    return convert


_SIMPLE: dict[Any, Converter] = {int: _check_int, str: _check_str, bool: _check_bool}


def _converter(annotation: Any) -> Converter:
    if annotation in _SIMPLE:
        return _SIMPLE[annotation]
    if annotation is object or annotation is Any:
        return _any
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return _optional(_converter(inner))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _tuple_of(_converter(args[0]))
    if origin is dict:
        return _dict_of(_converter(args[0]), _converter(args[1]))
    if isinstance(annotation, type) and is_model(annotation):
        return _nested(annotation)
    raise TypeError(f"unsupported field annotation {annotation!r}")


@cache
def _plan(cls: type) -> tuple[tuple[str, Converter, bool], ...]:
    """(name, converter, required) for each field, compiled once per class."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, _converter(hints[f.name]), f.required) for f in fields_of(cls))


@cache
def _known(cls: type) -> frozenset[str]:
    return frozenset(name for name, _, _ in _plan(cls))


def from_plain(cls: type, data: Any, where: Any = "") -> Any:
    """Build `cls` from a plain dict, checking every field; unknown fields are refused.

    `where` names the value in error messages: a str, or a path of (parent, part) pairs.
    """
    decode = _fast.get(cls)
    if decode is None:
        compiled = _compile(cls)
        decode = _fast[cls] = _struct_first(cls, compiled) if _is_struct(cls) else compiled
    return decode(data, where or cls.__name__)


def _is_struct(cls: type) -> bool:
    return isinstance(cls, type) and issubclass(cls, msgspec.Struct)


def _struct_first(cls: type, reference: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A Struct from a dict: msgspec checks the types and runs the class's rules in C
    (x2.2 on a 500-task batch's specs: the API's largest step under ingest); anything it
    refuses goes to the compiled path, which words the refusal as it always has (and
    decides: a value msgspec refuses that the reference takes, it takes)."""

    def decode(data: Any, where: Any) -> Any:
        if type(data) is dict:
            try:
                return msgspec.convert(data, cls, strict=True)
            except (msgspec.ValidationError, ValueError, TypeError):
                pass
        return reference(data, where)

    return decode


def _checked(cls: type, data: Any, where: Any) -> Any:
    """from_plain's reference path: slow, and precise about what is wrong. The compiled
    decoders hand every doubtful value over to it, so both raise the same errors."""
    if not isinstance(data, dict):
        raise SchemaError(f"{_at(where)}: expected an object, got {type(data).__name__}")
    plan = _plan(cls)
    unknown = data.keys() - _known(cls)
    if unknown:
        raise SchemaError(
            f"{_at(where)}: unknown field(s) {sorted(map(str, unknown))}", "unknown_field"
        )
    kwargs = {}
    for name, convert, required in plan:
        if name in data:
            kwargs[name] = convert(data[name], (where, name))
        elif required:
            raise SchemaError(f"{_at(where)}: missing field {name!r}", "missing_field")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, SchemaError):
            raise
        raise SchemaError(f"{_at(where)}: {exc}") from exc


_fast: dict[type, Callable[[Any, Any], Any]] = {}
_MISSING = object()
# Checks the compiled decoders inline for the common field types; other fields call
# their converter (which raises precise errors itself).
_INLINE = {int: "type(v) is int", str: "type(v) is str", bool: "type(v) is bool"}


def _inline_check(annotation: Any) -> str | None:
    if annotation in _INLINE:
        return _INLINE[annotation]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        if inner in _INLINE:
            return f"(v is None or {_INLINE[inner]})"
    return None


def _compile(cls: type) -> Callable[[Any, Any], Any]:
    """Generate, once per class, a decoder that does from_plain's checks in straight-line
    code (about 3x faster on a 500-task PostTasks) and falls back to `_checked`, which
    raises the precise error, at the first doubt."""
    hints = typing.get_type_hints(cls)
    scope: dict[str, Any] = {"CLS": cls, "KNOWN": _known(cls), "MISSING": _MISSING,
                             "SLOW": _checked, "SchemaError": SchemaError}  # fmt: skip
    body = [
        "def decode(data, where):",
        "    if type(data) is not dict or not data.keys() <= KNOWN:",
        "        return SLOW(CLS, data, where)",
        "    kw = {}",
    ]
    for i, (name, convert, required) in enumerate(_plan(cls)):
        check = _inline_check(hints[name])
        body.append(f"    v = data.get({name!r}, MISSING)")
        body.append("    if v is MISSING:")
        body.append("        return SLOW(CLS, data, where)" if required else "        pass")
        if check is not None:
            body.append(f"    elif {check}:")
            body.append(f"        kw[{name!r}] = v")
            body.append("    else:")
            body.append("        return SLOW(CLS, data, where)")
        else:
            scope[f"convert_{i}"] = convert
            body.append("    else:")
            body.append(f"        kw[{name!r}] = convert_{i}(v, (where, {name!r}))")
    body += [
        "    try:",
        "        return CLS(**kw)",
        "    except SchemaError:",
        "        raise",
        "    except (ValueError, TypeError):",
        "        return SLOW(CLS, data, where)",
    ]
    exec("\n".join(body), scope)
    return scope["decode"]


def to_plain(value: Any) -> Any:
    """Models to dicts, tuples to lists, recursively (the inverse of from_plain)."""
    if type(value) in _LEAVES:  # most values of a payload: skip every check below
        return value
    encode = _encoders.get(type(value))
    if encode is not None:
        return encode(value)
    if not isinstance(value, type) and is_model(value):
        return _encoder(type(value))(value)
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value


_encoders: dict[type, Callable[[Any], Any]] = {}
_LEAVES = frozenset({str, int, bool, float, bytes, type(None)})
_PRIMITIVE = {int, str, bool}


def _field_encoder(annotation: Any) -> Callable[[Any], Any] | None:
    """None for fields stored as they are (the hot case: ids, amounts, instants)."""
    if annotation in _PRIMITIVE:
        return None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType) and all(
        a in _PRIMITIVE or a is type(None) for a in args
    ):
        return None
    if origin is tuple and args and args[0] in _PRIMITIVE:
        return list
    return to_plain


def _encoder(cls: type) -> Callable[[Any], dict[str, Any]]:
    """Compile, once per class, a function building the plain dict of an instance, its
    keys in declaration order: the order msgspec writes a Struct's fields in, so packing
    the plain map gives the record's own bytes (audit.verify relies on it). Before the
    Structs, fields stored as they are came first and the converted ones (tuples, nested
    models, free-form values) last: records of those days differ in key order only."""
    hints = typing.get_type_hints(cls)
    plan = [(f.name, _field_encoder(hints[f.name])) for f in fields_of(cls)]

    def encode(value: Any) -> dict[str, Any]:
        return {name: getattr(value, name) if enc is None else enc(getattr(value, name))
                for name, enc in plan}  # fmt: skip

    _encoders[cls] = encode
    return encode
