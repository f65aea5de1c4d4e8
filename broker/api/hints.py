"""What a type hint cannot say about a field, for the OpenAPI document (openapi.py).

`Annotated[int, Schema(minimum=1)]` adds JSON-schema keywords (bounds, patterns, enums of
request fields, defaults) to a field of a body or response dataclass; `describe_fields`
does it for dataclasses whose own module must not know about the API (schemas.commands).
Kept apart so that bodies, resources and the document all read it without a cycle.
"""

from __future__ import annotations

from typing import Any


class Schema:
    """JSON-schema keywords for `Annotated[X, Schema(...)]`, e.g. Schema(minimum=1)."""

    __slots__ = ("keywords",)

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __repr__(self) -> str:
        return f"Schema({self.keywords!r})"


# dataclass -> field name -> keywords, for dataclasses defined outside the API
FIELD_SCHEMAS: dict[type, dict[str, Schema]] = {}


def describe_fields(cls: type, **fields: Schema) -> None:
    FIELD_SCHEMAS.setdefault(cls, {}).update(fields)
