"""Registry of record types: name and schema version -> msgspec Struct.

Every event and command is a `Record`: a frozen msgspec Struct that refuses unknown
fields, so the codec decodes and validates it in C (docs/DESIGN.md, "Codec"). Events and
commands register themselves with a decorator; the codec looks them up by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import msgspec

T = TypeVar("T")


class Record(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The base of every event and command: frozen (hashable), keyword or positional
    construction, fields in declaration order (the order of the keys on the wire).
    A class's `__post_init__` runs on construction and on decoding alike."""


class Catalogue:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.by_name: dict[str, type] = {}

    def register(self, version: int = 1) -> Callable[[type[T]], type[T]]:
        """Class decorator: a Record registered under its class name, schema `version`."""

        def wrap(cls: type[T]) -> type[T]:
            if not issubclass(cls, Record):
                raise TypeError(f"{self.kind} {cls.__name__} must be a schemas.catalogue.Record")
            cls.TYPE = cls.__name__  # type: ignore[attr-defined]
            cls.VERSION = version  # type: ignore[attr-defined]
            if cls.TYPE in self.by_name:  # type: ignore[attr-defined]
                raise TypeError(f"{self.kind} {cls.__name__} registered twice")
            self.by_name[cls.__name__] = cls
            return cls

        return wrap

    def lookup(self, name: str) -> type | None:
        return self.by_name.get(name)


EVENTS = Catalogue("event")
COMMANDS = Catalogue("command")
