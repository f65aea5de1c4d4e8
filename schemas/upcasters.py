"""Upcasters lift an old event or command shape to the current one, only when decoding.

A published record is never rewritten: its bytes keep their meaning forever, and the
decoder chains `upcast(type, version)` steps until the record reaches the class's VERSION.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a step from `from_version` to `from_version + 1` for one record type."""

    def wrap(fn: Upcaster) -> Upcaster:
        UPCASTERS[(type_name, from_version)] = fn
        return fn

    return wrap


def upcast(type_name: str, version: int, target: int, data: dict[str, Any]) -> dict[str, Any]:
    from schemas.errors import SchemaError

    if version > target:
        raise SchemaError(
            f"{type_name} version {version} is newer than this code knows ({target})",
            "unknown_version",
        )
    while version < target:
        step = UPCASTERS.get((type_name, version))
        if step is None:
            raise SchemaError(f"no upcaster for {type_name} v{version}", "unknown_version")
        data = step(dict(data))
        version += 1
    return data


@upcaster("ClaimTask", 1)
def _claim_task_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v2 added `alternatives`; a v1 claim named one task only."""
    data.setdefault("alternatives", [])
    return data
