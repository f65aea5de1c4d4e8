"""The OpenAPI description and the served routes come from one table: keep them in sync."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import jsonschema_rs
import pytest
from aiohttp import web

from broker.api.app import HEALTH, guard, make_app
from broker.api.bodies import BatchBody, ReasonBody
from broker.api.hints import Schema
from broker.api.openapi import json_schema
from broker.api.routes import ROUTES, Route
from schemas.commands import ReviewItem, TaskSpec
from schemas.errors import SchemaError
from schemas.fields import from_plain
from tests.openapi_kit import document, errors

# Routes being written elsewhere declare their models themselves (see the message below).
SPEC = {"kind": "survey", "reward": 500, "currency": "EUR", "estimated_seconds": 60,
        "payload": {"q": 1}}  # fmt: skip


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
    described = {(m, p) for p, ops in document()["paths"].items() for m in ops}
    public = {("get", "/openapi.json"), ("get", "/metrics")}
    assert served_operations(app) - public == described


def test_the_document_is_valid_openapi_3_0() -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from schemathesis.specs.openapi.definitions import OPENAPI_30

    spec = document()
    assert not errors(jsonschema_rs.Draft4Validator(OPENAPI_30), spec)
    for operation in schemathesis.openapi.from_dict(spec).get_all_operations():
        operation.ok()  # raises what schemathesis could not read


def _answers_json(route: Route) -> bool:
    return "application/json" in route.media and any(
        200 <= status < 300 and status != 204 for status in route.responses)


def test_every_json_answer_has_its_response_model() -> None:
    missing = [f"{r.method} {r.path} ({r.handler.__module__})"
               for r in [*ROUTES, HEALTH] if _answers_json(r) and r.out is None]
    assert not missing, (
        "declare out= on these routes: the dataclass the handler serves (one per resource,"
        " see broker/api/resources.py), which is also the document's 2xx schema:\n"
        + "\n".join(missing))  # fmt: skip


def test_every_operation_has_an_id_a_summary_and_json_errors() -> None:
    ids = []
    for ops in document()["paths"].values():
        for op in ops.values():
            ids.append(op["operationId"])
            assert op["summary"]
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}
    assert len(ids) == len(set(ids))


def test_the_guards_own_answers_are_listed_on_every_route() -> None:
    """What the guard answers before any handler runs (app.guard, json_input): the
    handlers' own statuses are checked against the running API by schemathesis."""
    unlisted = []
    for route in ROUTES:
        expected = {400, 503}
        if route.roles:
            expected |= {401, 403, 429}
        if route.body is not None:
            expected |= {413, 415, 422}
        if missing := expected - route.responses.keys():
            unlisted.append(f"{route.method} {route.path}: {sorted(missing)}")
    assert not unlisted


def test_command_routes_take_an_idempotency_key_and_say_when_they_replayed() -> None:
    commands = {"deposit", "approve", "reject", "bonus", "cancel", "review", "claim_next",
                "claim_task", "submit", "release", "dispute", "payout", "overturn"}
    found = set()
    for ops in document()["paths"].values():
        for op in ops.values():
            headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
            if "Idempotency-Key" not in headers:
                continue
            found.add(op["operationId"])
            assert "X-Correlation-Id" in headers
            for status, response in op["responses"].items():
                if status.startswith("2") and status != "204":
                    assert "Idempotent-Replayed" in response["headers"], op["operationId"]
    assert commands <= found


def test_retry_after_comes_with_every_429_and_503() -> None:
    for ops in document()["paths"].values():
        for op in ops.values():
            for status in ("429", "503"):
                if status in op["responses"]:
                    assert op["responses"][status]["headers"]["Retry-After"]["required"]


def test_every_component_refuses_unknown_fields() -> None:
    for name, schema in document()["components"]["schemas"].items():
        assert schema["additionalProperties"] is False, name


def test_guard_keeps_the_handler_name_for_operation_ids() -> None:
    assert all(guard(r).__name__ == r.handler.__name__ for r in ROUTES)


@dataclass
class Inner:
    n: int


@dataclass
class Sample:
    """A sample."""

    kind: Literal["a", "b"]
    many: list[Inner]
    fixed: tuple[str, ...]
    by_name: dict[str, int]
    by_currency: dict[Literal["EUR", "USD"], Inner]
    maybe: Inner | None
    either: int | str
    anything: object
    bounded: Annotated[int, Schema(minimum=1, maximum=9)]
    flag: bool = False


def test_any_dataclass_becomes_a_component() -> None:
    components: dict = {}
    assert json_schema(Sample, components) == {"$ref": "#/components/schemas/Sample"}
    got = components["Sample"]
    props = got["properties"]
    assert got["description"] == "A sample." and got["required"] == [
        "kind", "many", "fixed", "by_name", "by_currency", "maybe", "either", "anything",
        "bounded"]  # fmt: skip
    assert props["kind"] == {"type": "string", "enum": ["a", "b"]}
    assert props["many"] == {"type": "array", "items": {"$ref": "#/components/schemas/Inner"}}
    assert props["fixed"] == {"type": "array", "items": {"type": "string"}}
    assert props["by_name"] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert set(props["by_currency"]["properties"]) == {"EUR", "USD"}
    assert props["maybe"] == {"allOf": [{"$ref": "#/components/schemas/Inner"}], "nullable": True}
    assert props["either"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert props["anything"] == {} and props["flag"] == {"type": "boolean"}
    assert props["bounded"] == {"type": "integer", "minimum": 1, "maximum": 9}


def test_two_classes_of_one_name_get_two_components() -> None:
    @dataclass
    class Inner:  # another module's, say
        s: str

    components: dict = {}
    assert json_schema(globals()["Inner"], components)["$ref"].endswith("/Inner")
    assert json_schema(Inner, components)["$ref"].endswith("/Inner2")
    assert components["Inner2"]["properties"] == {"s": {"type": "string"}}
    assert json_schema(globals()["Inner"], components)["$ref"].endswith("/Inner")


def _refused(cls: type, data: dict) -> bool:
    try:
        from_plain(cls, data)
    except SchemaError:
        return True
    return False


def test_the_documented_bounds_of_a_task_are_the_ones_checked() -> None:
    props = document()["components"]["schemas"]["TaskSpec"]["properties"]
    bounded = {n: p for n, p in props.items() if "minimum" in p or "maximum" in p}
    assert {"reward", "assignments", "priority", "lease_seconds"} <= bounded.keys()
    for name, prop in bounded.items():
        low, high = prop["minimum"], prop["maximum"]
        assert not _refused(TaskSpec, {**SPEC, name: low}), (name, low)
        assert not _refused(TaskSpec, {**SPEC, name: high}), (name, high)
        assert _refused(TaskSpec, {**SPEC, name: low - 1}), (name, low - 1)
        assert _refused(TaskSpec, {**SPEC, name: high + 1}), (name, high + 1)
    for name in ("kind", "currency"):
        assert all(not _refused(TaskSpec, {**SPEC, name: v}) for v in props[name]["enum"])
        assert _refused(TaskSpec, {**SPEC, name: "other"})
    assert _refused(TaskSpec, {**SPEC, "title": "x" * (props["title"]["maxLength"] + 1)})


def test_the_documented_bounds_of_bodies_are_the_ones_checked() -> None:
    schemas = document()["components"]["schemas"]
    reason = schemas["ReasonBody"]["properties"]["reason"]
    assert not _refused(ReasonBody, {"reason": "x" * reason["maxLength"]})
    assert _refused(ReasonBody, {"reason": "x" * (reason["maxLength"] + 1)})
    batch_id = schemas["BatchBody"]["properties"]["batch_id"]
    assert not _refused(BatchBody, {"batch_id": "b" * batch_id["maxLength"], "tasks": [SPEC]})
    assert _refused(BatchBody, {"batch_id": "b" * (batch_id["maxLength"] + 1), "tasks": [SPEC]})
    decision = schemas["ReviewItem"]["properties"]["decision"]["enum"]
    item = {"submission_id": "r:b.0:0:c1", "reason": "why"}
    assert all(not _refused(ReviewItem, {**item, "decision": d}) for d in decision)
    assert _refused(ReviewItem, {**item, "decision": "maybe"})
