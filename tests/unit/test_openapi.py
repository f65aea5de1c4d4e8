"""The OpenAPI description and the served routes come from one table: keep them in sync."""

from __future__ import annotations

from aiohttp import web

from broker.api.app import guard, make_app
from broker.api.openapi import build_spec
from broker.api.routes import ROUTES


def served_operations(app: web.Application) -> set[tuple[str, str]]:
    found = set()
    for resource in app.router.resources():
        for route in resource:
            if route.method != "HEAD":
                found.add((route.method.lower(), resource.canonical))
    return found


def test_every_served_route_is_described_and_every_described_route_is_served() -> None:
    async def no_services(app):  # type: ignore[no-untyped-def]
        yield

    app = make_app(no_services, max_body_bytes=1024)
    spec = build_spec(ROUTES, "test")
    described = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    public = {("get", "/healthz"), ("get", "/openapi.json"), ("get", "/metrics")}
    assert served_operations(app) - public == described


def test_every_operation_has_an_id_a_summary_and_json_errors() -> None:
    spec = build_spec(ROUTES, "test")
    ids = []
    for ops in spec["paths"].values():
        for op in ops.values():
            ids.append(op["operationId"])
            assert op["summary"]
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}
    assert len(ids) == len(set(ids))


def test_bodies_refuse_unknown_fields_in_the_schema_too() -> None:
    spec = build_spec(ROUTES, "test")
    for name, schema in spec["components"]["schemas"].items():
        if name != "Error":
            assert schema["additionalProperties"] is False, name


def test_guard_keeps_the_handler_name_for_operation_ids() -> None:
    assert all(guard(r).__name__ == r.handler.__name__ for r in ROUTES)
