"""The pure parts of token rotation and revocation: ids, bodies, routes, CLI, the bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.api import app as _app  # noqa: F401 - importing the handlers fills ROUTES
from broker.api.auth import TokenStore, token_digest, token_id
from broker.api.openapi import build_spec
from broker.api.responses import ApiError, build
from broker.api.routes import ROUTES
from broker.api.token_bodies import TokenBody
from broker.api.token_keys import TOKEN_ID_HEX, TokenKeys
from deploy.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
TOKEN_ROUTES = {("post", "/v1/actors/{actor_id}/tokens"), ("get", "/v1/actors/{actor_id}/tokens"),
                ("delete", "/v1/actors/{actor_id}/tokens"),
                ("delete", "/v1/actors/{actor_id}/tokens/{token_id}")}


def test_a_token_id_is_a_prefix_of_the_digest_and_not_of_the_token() -> None:
    token = "s3cret-token-value"
    tid = token_id(token_digest(token))
    assert len(tid) == TOKEN_ID_HEX and tid == token_digest(token)[:TOKEN_ID_HEX]
    assert tid not in token and int(tid, 16) >= 0


def test_revocation_reaches_every_process_within_a_second() -> None:
    # The documented bound (docs/DESIGN.md, `piecework token --help`): half a second.
    assert 0 < TokenStore.CACHE_SECONDS <= 0.5


def test_keys_of_one_namespace_stay_in_it() -> None:
    keys = TokenKeys("t.x")
    assert {keys.tokens, keys.actors, keys.profiles, keys.indexed, keys.of_actor("ana")} == {
        "t.x:tokens", "t.x:actors", "t.x:profiles", "t.x:indexed", "t.x:actor-tokens:ana"}
    assert TokenKeys().tokens == "pw:auth:tokens"  # the hash existing deployments have


@pytest.mark.parametrize("data, expected", [({}, False), ({"revoke_existing": True}, True)])
def test_the_token_body_is_optional_and_strict(data, expected) -> None:
    assert build(TokenBody, data).revoke_existing is expected


@pytest.mark.parametrize("data", [{"revoke_existing": "yes"}, {"revoke_existing": 1},
                                  {"rotate": True}, None, []])
def test_anything_else_is_refused_422(data) -> None:
    with pytest.raises(ApiError) as caught:
        build(TokenBody, data)
    assert caught.value.status == 422


def test_the_token_routes_are_operator_only_and_described() -> None:
    spec = build_spec(ROUTES, "test")
    described = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert described >= TOKEN_ROUTES
    for method, path in TOKEN_ROUTES:
        op = spec["paths"][path][method]
        assert op["security"] == [{"bearer": []}] and op["description"] == "Roles: operator."
        assert {"401", "403", "404", "422", "429"} <= set(op["responses"])
        assert ("201" if method == "post" else "200") in op["responses"]
    schema = spec["components"]["schemas"]["TokenBody"]
    # every field optional: OpenAPI 3.0 wants no "required" then, rather than an empty one
    assert "required" not in schema and schema["additionalProperties"] is False


def test_the_cli_parses_issue_rotate_list_and_revoke() -> None:
    parser = build_parser()
    issued = parser.parse_args(["token", "issue", "ana", "--rotate"])
    assert (issued.action, issued.actor_id, issued.rotate, issued.token_id) == (
        "issue", "ana", True, None)
    one = parser.parse_args(["token", "revoke", "ana", "0123456789abcdef"])
    assert (one.action, one.token_id, one.rotate) == ("revoke", "0123456789abcdef", False)
    assert parser.parse_args(["token", "list", "ana"]).action == "list"
    with pytest.raises(SystemExit):
        parser.parse_args(["token", "forget", "ana"])


def test_the_readme_lists_the_token_command() -> None:
    assert "`piecework token issue ACTOR [--rotate]`" in (REPO / "README.md").read_text()
