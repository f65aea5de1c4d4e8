"""Registry of record types: name and schema version -> dataclass.

Events and commands register themselves with a decorator; the codec looks them up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Catalogue:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.by_name: dict[str, type] = {}

    def register(self, version: int = 1) -> Callable[[type[T]], type[T]]:
        """Class decorator: frozen, slotted dataclass registered under its class name."""

        def wrap(cls: type[T]) -> type[T]:
            dc = dataclasses.dataclass(frozen=True, slots=True)(cls)
            dc.TYPE = cls.__name__  # type: ignore[attr-defined]
            dc.VERSION = version  # type: ignore[attr-defined]
            if dc.TYPE in self.by_name:
                raise TypeError(f"{self.kind} {dc.TYPE} registered twice")
            self.by_name[dc.TYPE] = dc
            return dc

        return wrap

    def lookup(self, name: str) -> type | None:
        return self.by_name.get(name)


EVENTS = Catalogue("event")
COMMANDS = Catalogue("command")
