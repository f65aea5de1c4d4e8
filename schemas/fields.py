"""Type-driven conversion between frozen dataclasses and plain values (dicts, lists, ints).

Plain values are what msgpack and JSON carry. Each dataclass's field annotations are
compiled once into converters that check the type of every incoming value, so a record
with a wrong or missing field is refused with a precise reason instead of half-built.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any

from schemas.errors import SchemaError

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
    def convert(value: Any, where: str) -> Any:
        if isinstance(value, cls):
            return value
        return from_plain(cls, value, _at(where))

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
    if dataclasses.is_dataclass(annotation):
        return _nested(annotation)
    raise TypeError(f"unsupported field annotation {annotation!r}")


@cache
def _plan(cls: type) -> tuple[tuple[str, Converter, bool], ...]:
    """(name, converter, required) for each field, compiled once per class."""
    hints = typing.get_type_hints(cls)
    return tuple(
        (
            f.name,
            _converter(hints[f.name]),
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f in dataclasses.fields(cls)
    )


@cache
def _known(cls: type) -> frozenset[str]:
    return frozenset(name for name, _, _ in _plan(cls))


def from_plain(cls: type, data: Any, where: str = "") -> Any:
    """Build `cls` from a plain dict, checking every field; unknown fields are refused."""
    where = where or cls.__name__
    if not isinstance(data, dict):
        raise SchemaError(f"{where}: expected an object, got {type(data).__name__}")
    plan = _plan(cls)
    unknown = data.keys() - _known(cls)
    if unknown:
        raise SchemaError(f"{where}: unknown field(s) {sorted(map(str, unknown))}", "unknown_field")
    kwargs = {}
    for name, convert, required in plan:
        if name in data:
            kwargs[name] = convert(data[name], (where, name))
        elif required:
            raise SchemaError(f"{where}: missing field {name!r}", "missing_field")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, SchemaError):
            raise
        raise SchemaError(f"{where}: {exc}") from exc


def to_plain(value: Any) -> Any:
    """Dataclasses to dicts, tuples to lists, recursively (the inverse of from_plain)."""
    encode = _encoders.get(type(value))
    if encode is not None:
        return encode(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encoder(type(value))(value)
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value


_encoders: dict[type, Callable[[Any], Any]] = {}
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
    """Compile, once per class, a function building the plain dict of an instance."""
    hints = typing.get_type_hints(cls)
    plan = [(f.name, _field_encoder(hints[f.name])) for f in dataclasses.fields(cls)]
    plain = [name for name, enc in plan if enc is None]
    converted = [(name, enc) for name, enc in plan if enc is not None]

    def encode(value: Any) -> dict[str, Any]:
        out = {name: getattr(value, name) for name in plain}
        for name, enc in converted:
            out[name] = enc(getattr(value, name))
        return out

    _encoders[cls] = encode
    return encode
