"""OpenAPI 3 description, generated from the route table and the body dataclasses."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
}


def json_schema(annotation: Any, components: dict[str, Any]) -> dict[str, Any]:
    if annotation is int:
        return {"type": "integer"}
    if annotation is str:
        return {"type": "string"}
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is object:
        return {}
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = next(a for a in args if a is not type(None))
        return {**json_schema(inner, components), "nullable": True}
    if origin is tuple:
        return {"type": "array", "items": json_schema(args[0], components)}
    if dataclasses.is_dataclass(annotation):
        name = annotation.__name__
        if name not in components:
            components[name] = {}  # placeholder stops recursion
            components[name] = _object_schema(annotation, components)
        return {"$ref": f"#/components/schemas/{name}"}
    raise TypeError(f"no JSON schema for {annotation!r}")


def _object_schema(cls: type, components: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ],
        "properties": {f.name: json_schema(hints[f.name], components) for f in fields},
    }


def build_spec(routes: list, version: str) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for route in routes:
        op: dict[str, Any] = {
            "operationId": route.handler.__name__,
            "summary": route.summary,
            "responses": {
                str(status): _response(status, text, route.media)
                for status, text in route.responses.items()
            },
        }
        params = [part[1:-1] for part in route.path.split("/") if part.startswith("{")]
        if params or route.query:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in params
            ] + [
                {"name": q, "in": "query", "required": False, "schema": {"type": "string"}}
                for q in route.query
            ]
        if route.roles:
            op["security"] = [{"bearer": []}]
            op["description"] = f"Roles: {', '.join(route.roles)}."
        if route.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": json_schema(route.body, components)}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": "piecework", "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _response(status: int, text: str,
              media: tuple[str, ...] = ("application/json",)) -> dict[str, Any]:  # fmt: skip
    response: dict[str, Any] = {"description": text}
    if status >= 400:
        error = {"$ref": "#/components/schemas/Error"}
        response["content"] = {"application/json": {"schema": error}}
    elif status not in (204,):
        response["content"] = {
            m: {"schema": {"type": "object"} if m == "application/json" else {"type": "string"}}
            for m in media
        }
    if status in (429, 503):
        response["headers"] = {"Retry-After": {
            "description": "seconds to wait before trying again", "required": True,
            "schema": {"type": "integer", "minimum": 1}}}
    return response
