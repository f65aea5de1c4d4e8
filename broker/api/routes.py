"""The route table: one entry per endpoint, used both to serve and to describe the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[..., Awaitable[web.StreamResponse]]
# A query parameter: its name (a string, or a schema openapi.QUERY knows by that name), or
# (name, type hint) for one whose values this route alone defines.
Query = str | tuple[str, Any]

# The headers the API reads, as (min, max) characters of printable ASCII. aiohttp decodes
# header bytes with surrogateescape: anything else would reach token hashing, Redis or a
# command envelope as a str that cannot be encoded back (a 500, before auth and rate
# limiting, for anyone). Checked first (app.check_headers), so a bad one costs neither a
# Redis call nor a token.
HEADER_CHARS = {"Authorization": (0, 512), "Idempotency-Key": (1, 100),
                "X-Correlation-Id": (0, 100), "Last-Event-ID": (0, 400)}
# A path parameter names an id: at most 64 characters each (schemas.rules), task, claim and
# submission ids join a few; 200 bounds them all and keeps any error message short.
MAX_PATH_PARAM_CHARS = 200
# What a route that sends one command reads: the key that makes a retry the same command
# (answered again, Idempotent-Replayed: true), and the id its events are correlated by.
COMMAND_HEADERS = ("Idempotency-Key", "X-Correlation-Id")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    roles: tuple[str, ...]  # empty: no token needed
    body: type | None = None
    responses: dict[int, str] = field(default_factory=dict)
    query: tuple[Query, ...] = ()  # optional query parameters, described in OpenAPI
    media: tuple[str, ...] = ("application/json",)  # what a 2xx answer may be
    out: type | None = None  # the 2xx JSON body's model (a dataclass): handler and OpenAPI
    headers: tuple[str, ...] = ()  # request headers it reads besides Authorization


COMMON = {
    400: "malformed request: a bad header, path parameter or JSON body (not JSON, not"
         " UTF-8, nested too deep, a number out of 64-bit range, a lone surrogate)",
    401: "missing or unknown token",
    422: "invalid body",
    429: "rate limited; Retry-After says when to come back",
    503: "the log, the processor or the views store is unavailable; retry after Retry-After",
}
# A command is one Kafka record: the processor refuses one whose records would be too large.
COMMAND = {**COMMON, 403: "not yours", 404: "not found", 409: "refused in this state",
           413: "too large for the log"}
# Every route that reads a JSON body (schemas.limits and json_input bound it).
BODY = {413: "the body, or a free-form field in it, is too large",
        415: "the body is not application/json"}


def route(
    method: str,
    path: str,
    summary: str,
    roles: tuple[str, ...],
    body: type | None = None,
    ok: dict[int, str] | None = None,
    errors: dict[int, str] | None = None,
    query: tuple[Query, ...] = (),
    media: tuple[str, ...] = ("application/json",),
    out: type | None = None,
    headers: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    """Decorator collecting handlers into ROUTES. `out` is the model of a 2xx JSON answer
    (broker/api/resources.py), `headers` what the route reads (COMMAND_HEADERS)."""

    def wrap(handler: Handler) -> Handler:
        responses: dict[int, str] = dict(ok or {200: "done"})
        responses.update(COMMAND if errors is None else errors)
        if body is not None:
            for status, text in BODY.items():  # a route's own wording of them stays
                responses.setdefault(status, text)
        if not roles:
            responses.pop(401, None)
        ROUTES.append(Route(method, path, handler, summary, roles, body, responses, query, media,
                            out, headers))
        return handler

    return wrap


ROUTES: list[Route] = []


def register(app: web.Application, guard: Callable[[Route], Handler]) -> None:
    for r in ROUTES:
        app.router.add_route(r.method, r.path, guard(r), name=r.handler.__name__)


def path_info(request: web.Request, name: str) -> Any:
    return request.match_info[name]
