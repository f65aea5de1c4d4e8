"""Values into response models (broker/api/resources.py), converted by their annotations.

The views keep every hash field as text (Redis has no other type): "300" is an int field's
300, "1" a bool field's true, "fr,de" a list field's ["fr", "de"]. `typed` converts such
text and plain values alike, checks each against its annotation (a Literal's values
included) and leaves out what the model does not name, so nothing internal leaks and
nothing served escapes the document. JSON values (payloads, answers) are decoded by the
view's readers (consumers/queries/listings.py), which know how the view stores them.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, TypeVar

from broker.api.hints import Schema
from schemas.fields import fields_of, is_model

T = TypeVar("T")
Convert = Callable[[Any], Any]
_MISSING = object()


class ShapeError(ValueError):
    """A value that does not fit its model: a bug in a view or a handler, never input."""


def typed(cls: type[T], found: Mapping[str, Any]) -> T:
    """`cls` built from `found` (a view's hash, a reply's result, a dict of plain values)."""
    kwargs = {}
    for name, convert, default in _plan(cls):
        value = found.get(name, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                raise ShapeError(f"{cls.__name__}.{name} is missing")
            kwargs[name] = default
            continue
        try:
            kwargs[name] = convert(value)
        except (TypeError, ValueError) as exc:
            raise ShapeError(f"{cls.__name__}.{name}: {exc}") from exc
    return cls(**kwargs)


def plain(value: Any) -> Any:
    """A model as JSON-ready values, fields in their declared order: what the API serves."""
    kind = type(value)
    if kind in _LEAVES:
        return value
    names = _names(kind)
    if names is not None:
        return {name: plain(getattr(value, name)) for name in names}
    if kind is list or kind is tuple:
        return [plain(v) for v in value]
    if kind is dict:
        return {k: plain(v) for k, v in value.items()}
    return value


_LEAVES = frozenset({str, int, bool, float, type(None)})


@cache
def _names(kind: type) -> tuple[str, ...] | None:
    return tuple(f.name for f in fields_of(kind)) if is_model(kind) else None


@cache
def _plan(cls: type) -> tuple[tuple[str, Convert, Any], ...]:
    """(name, converter, default when absent) per field, compiled once per model."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return tuple((f.name, _converter(hints[f.name]), _default(hints[f.name]))
                 for f in fields_of(cls))  # fmt: skip


def _default(hint: Any) -> Any:
    """None for an optional field or a JSON value (null is one), the Schema's default, or
    _MISSING: it must be there."""
    if typing.get_origin(hint) is typing.Annotated:
        for meta in hint.__metadata__:
            if isinstance(meta, Schema) and "default" in meta.keywords:
                return meta.keywords["default"]
        hint = typing.get_args(hint)[0]
    if hint is object or hint is Any:
        return None
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and \
            type(None) in typing.get_args(hint):  # fmt: skip
        return None
    return _MISSING


def _converter(hint: Any) -> Convert:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return _converter(args[0])
    if hint in _SCALARS:
        return _SCALARS[hint]
    if hint is object or hint is Any:
        return lambda value: value
    if origin is typing.Literal:
        return _one_of(args)
    if origin in (typing.Union, types.UnionType):
        return _first_of([_converter(a) for a in args if a is not type(None)])
    if origin in (list, tuple):
        return _list_of(_converter(args[0]))
    if origin is dict:
        key, value = _converter(args[0]), _converter(args[1])
        return lambda found: {key(k): value(v) for k, v in _mapping(found).items()}
    if isinstance(hint, type) and is_model(hint):
        return lambda found: found if isinstance(found, hint) else typed(hint, _mapping(found))
    raise TypeError(f"no conversion to {hint!r}")


def _int(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is str:
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__}")


def _bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    if value in ("1", "0", 1, 0):  # the views store flags as 1 and 0
        return value in ("1", 1)
    raise TypeError(f"expected a boolean, got {value!r}")


def _str(value: Any) -> str:
    if type(value) is not str:
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _float(value: Any) -> float:
    if type(value) in (int, float):  # not bool: a flag is no figure
        return float(value)
    if type(value) is str:
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")


_SCALARS: dict[Any, Convert] = {int: _int, bool: _bool, str: _str, float: _float}


def _one_of(allowed: tuple[Any, ...]) -> Convert:
    def convert(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {allowed}")
        return value

    return convert


def _first_of(options: list[Convert]) -> Convert:
    def convert(value: Any) -> Any:
        errors = []
        for option in options:
            try:
                return option(value)
            except (TypeError, ValueError) as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors))

    return options[0] if len(options) == 1 else convert


def _list_of(item: Convert) -> Convert:
    def convert(value: Any) -> list[Any]:
        if type(value) is str:  # the views join a list with commas
            return [item(v) for v in value.split(",")] if value else []
        if not isinstance(value, list | tuple):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        return [item(v) for v in value]

    return convert


def _mapping(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value
