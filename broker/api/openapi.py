"""OpenAPI 3 description, generated from the route table, the request bodies
(broker/api/bodies.py) and the response models (broker/api/resources.py).

A schema comes from a type hint: int, str, bool, float, object or Any (any JSON value),
Literal (an enum), X | None (nullable), other unions (anyOf), tuple and list (an array),
dict[str, X] (an object of X), a dataclass or msgspec Struct (a component named after the
class).
`Annotated[X, Schema(...)]` adds what the type cannot say: bounds, patterns, defaults.
A dataclass field without a default is required; the response models give none (they
are served whole), so every field of theirs is required, null where the type allows it.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from broker.api.hints import FIELD_SCHEMAS, Schema
from broker.api.resources import Error
from broker.api.routes import HEADER_CHARS, MAX_PATH_PARAM_CHARS, Route
from consumers.queries.listings import DEFAULT_LIMIT, MAX_LIMIT
from schemas.fields import fields_of, is_model

# Printable ASCII, as app.check_headers wants a header, without the leading or trailing
# space that HTTP clients refuse or strip.
PRINTABLE_ASCII = "^[\\x21-\\x7E]([\\x20-\\x7E]*[\\x21-\\x7E])?$"
# Query parameters known by name; a route may give its own as (name, type hint).
QUERY: dict[str, Any] = {
    "limit": typing.Annotated[int, Schema(minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT)],
    "cursor": typing.Annotated[str, Schema(description="next_cursor of the page before")],
    "requester_id": typing.Annotated[str, Schema(
        description="whose: operators must name the requester, requesters may name themselves")],
    "batch_id": str,
    "format": typing.Annotated[typing.Literal["jsonl", "csv"], Schema(default="jsonl")],
}
HEADERS = {
    "Idempotency-Key": "Makes a retried request the same command: it is answered again"
                       " (Idempotent-Replayed: true) and decides nothing new, for 7 days.",
    "X-Correlation-Id": "Carried by the command and its events (defaults to the command id).",
    "Last-Event-ID": "The id of the last Server-Sent Event received (a feed cursor): the"
                     " stream resumes just after it. Wins over `after`.",
}
REPLAYED = {"description": "true when the answer is a retry's, from the processor's memory:"
                           " nothing was decided this time",
            "schema": {"type": "string", "enum": ["true"]}}  # fmt: skip
RETRY_AFTER = {"description": "seconds to wait before trying again", "required": True,
               "schema": {"type": "integer", "minimum": 1}}


def json_schema(annotation: Any, components: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.0 schema of a type hint; dataclasses and Structs go to `components`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        schema = json_schema(args[0], components)
        for meta in annotation.__metadata__:
            if isinstance(meta, Schema):
                schema = _with(schema, meta.keywords)
        return schema
    simple = _SIMPLE.get(annotation)
    if simple is not None:
        return dict(simple)
    if origin is typing.Literal:
        return _enum(args)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        schema = (json_schema(options[0], components) if len(options) == 1
                  else {"anyOf": [json_schema(a, components) for a in options]})
        return _with(schema, {"nullable": True}) if len(options) < len(args) else schema
    if annotation in (list, tuple) or origin in (list, tuple):
        return {"type": "array", "items": json_schema(args[0], components) if args else {}}
    if annotation is dict or origin is dict:
        return _object_of(args, components)
    if isinstance(annotation, type) and is_model(annotation):
        return {"$ref": f"#/components/schemas/{_component(annotation, components)}"}
    raise TypeError(f"no JSON schema for {annotation!r}")


_SIMPLE: dict[Any, dict[str, Any]] = {
    int: {"type": "integer"}, str: {"type": "string"}, bool: {"type": "boolean"},
    float: {"type": "number"}, object: {}, Any: {},
}  # fmt: skip


def _with(schema: dict[str, Any], keywords: dict[str, Any]) -> dict[str, Any]:
    # OpenAPI 3.0 ignores the siblings of a $ref: keywords go beside an allOf of it.
    if "$ref" in schema:
        return {"allOf": [schema], **keywords}
    return {**schema, **keywords}


def _enum(values: tuple[Any, ...]) -> dict[str, Any]:
    kinds = {type(v) for v in values if v is not None}
    names = {str: "string", int: "integer", bool: "boolean"}
    schema: dict[str, Any] = {"enum": [v for v in values if v is not None]}
    if len(kinds) == 1 and next(iter(kinds)) in names:
        schema = {"type": names[next(iter(kinds))], **schema}
    return {**schema, "nullable": True} if None in values else schema


def _object_of(args: tuple[Any, ...], components: dict[str, Any]) -> dict[str, Any]:
    if not args:
        return {"type": "object"}
    key, value = args
    item = json_schema(value, components)
    if typing.get_origin(key) is typing.Literal:  # known keys, each optional
        return {"type": "object", "additionalProperties": False,
                "properties": {k: item for k in typing.get_args(key)}}  # fmt: skip
    return {"type": "object", "additionalProperties": item}


def _component(cls: type, components: dict[str, Any]) -> str:
    """The component name of `cls`: its own, or numbered when another class has it."""
    name, n = cls.__name__, 2
    while components.get(name, {}).get("x-python") not in (None, _qualname(cls)):
        name, n = f"{cls.__name__}{n}", n + 1
    if name not in components:
        components[name] = {"x-python": _qualname(cls)}  # placeholder stops recursion
        components[name] = _object_schema(cls, components)
    return name


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _object_schema(cls: type, components: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    extra = FIELD_SCHEMAS.get(cls, {})
    properties = {}
    for f in fields_of(cls):
        schema = json_schema(hints[f.name], components)
        if f.name in extra:
            schema = _with(schema, extra[f.name].keywords)
        properties[f.name] = schema
    required = [f.name for f in fields_of(cls) if f.required]
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False,
                              "properties": properties, "x-python": _qualname(cls)}  # fmt: skip
    if required:  # OpenAPI 3.0 refuses an empty list
        schema["required"] = required
    doc = cls.__doc__ or ""
    if doc and not doc.startswith(f"{cls.__name__}("):  # not the one dataclass writes
        schema["description"] = " ".join(doc.split())
    return schema


def build_spec(routes: list[Route], version: str) -> dict[str, Any]:
    components: dict[str, Any] = {}
    json_schema(Error, components)  # first, so it is named Error
    paths: dict[str, Any] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, components)
    for schema in components.values():
        schema.pop("x-python", None)  # only to tell classes of one name apart
    return {
        "openapi": "3.0.3",
        "info": {"title": "piecework", "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.handler.__name__,
        "summary": route.summary,
        "responses": {str(status): _response(route, status, text, components)
                      for status, text in sorted(route.responses.items())},
    }
    parameters = _parameters(route, components)
    if parameters:
        op["parameters"] = parameters
    if route.roles:
        op["security"] = [{"bearer": []}]
        op["description"] = f"Roles: {', '.join(route.roles)}."
    if route.body is not None:
        op["requestBody"] = {
            # a body whose every field has a default may be left out (the handler's defaults)
            "required": any(f.required for f in fields_of(route.body)),
            "content": {"application/json": {"schema": json_schema(route.body, components)}},
        }
    return op


def _parameters(route: Route, components: dict[str, Any]) -> list[dict[str, Any]]:
    found = [{"name": p, "in": "path", "required": True,
              "schema": {"type": "string", "minLength": 1, "maxLength": MAX_PATH_PARAM_CHARS}}
             for p in (part[1:-1] for part in route.path.split("/") if part.startswith("{"))]
    for entry in route.query:
        name, hint = entry if isinstance(entry, tuple) else (entry, QUERY.get(entry, str))
        found.append({"name": name, "in": "query", "required": False,
                      "schema": json_schema(hint, components)})
    for name in route.headers:
        low, high = HEADER_CHARS.get(name, (0, 100))
        schema = {"type": "string", "minLength": max(1, low), "maxLength": high,
                  "pattern": PRINTABLE_ASCII}
        found.append({"name": name, "in": "header", "required": False, "schema": schema,
                      "description": HEADERS.get(name, "")})
    return found


def _response(route: Route, status: int, text: str,
              components: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    response: dict[str, Any] = {"description": text}
    if status >= 400:
        error = json_schema(Error, components)
        response["content"] = {"application/json": {"schema": error}}
        if status in (429, 503):
            response["headers"] = {"Retry-After": RETRY_AFTER}
        return response
    if status == 204:
        return response
    response["content"] = {m: {"schema": _answer(route, m, components)} for m in route.media}
    if "Idempotency-Key" in route.headers:
        response["headers"] = {"Idempotent-Replayed": REPLAYED}
    return response


def _answer(route: Route, media: str, components: dict[str, Any]) -> dict[str, Any]:
    if media != "application/json":
        return {"type": "string"}
    # A route without its model yet (being written elsewhere) still makes a valid document.
    return json_schema(route.out, components) if route.out else {"type": "object"}
