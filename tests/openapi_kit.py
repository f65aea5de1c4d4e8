"""The served OpenAPI document, and validators of values against its schemas."""

from __future__ import annotations

from typing import Any

import jsonschema_rs

from broker.api.app import HANDLER_MODULES, HEALTH
from broker.api.health import PROBES
from broker.api.openapi import build_spec
from broker.api.routes import ROUTES

assert HANDLER_MODULES  # importing the handlers fills ROUTES


def document() -> dict[str, Any]:
    """What GET /openapi.json serves."""
    return build_spec([*ROUTES, HEALTH, *PROBES], "test")


def as_json_schema(schema: Any) -> Any:
    """OpenAPI 3.0's `nullable` spelt in JSON Schema (draft 4), everywhere in `schema`."""
    if isinstance(schema, list):
        return [as_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: as_json_schema(v) for k, v in schema.items() if k != "nullable"}
    return {"anyOf": [out, {"type": "null"}]} if schema.get("nullable") else out


def validator(spec: dict[str, Any], schema: dict[str, Any]) -> jsonschema_rs.Draft4Validator:
    """Checks values against `schema`, whose $refs point into the document's components."""
    components = as_json_schema(spec["components"]["schemas"])
    return jsonschema_rs.Draft4Validator(
        {"allOf": [as_json_schema(schema)], "components": {"schemas": components}})


def model_validator(spec: dict[str, Any], name: str) -> jsonschema_rs.Draft4Validator:
    return validator(spec, {"$ref": f"#/components/schemas/{name}"})


def errors(check: jsonschema_rs.Draft4Validator, value: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in check.iter_errors(value)]


def answer_validator(spec: dict[str, Any], method: str, path: str,
                     status: int) -> jsonschema_rs.Draft4Validator | None:  # fmt: skip
    """The validator of a JSON answer `status` of the operation; None if it has no body.
    AssertionError if the document does not list that status for the operation."""
    responses = spec["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, not documented"
    content = responses[str(status)].get("content", {})
    if "application/json" not in content:
        return None
    return validator(spec, content["application/json"]["schema"])
