"""The route table: one entry per endpoint, used both to serve and to describe the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[..., Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    roles: tuple[str, ...]  # empty: no token needed
    body: type | None = None
    responses: dict[int, str] = field(default_factory=dict)
    query: tuple[str, ...] = ()  # optional query parameters, described in OpenAPI
    media: tuple[str, ...] = ("application/json",)  # what a 2xx answer may be
    out: type | None = None  # the 2xx JSON body's model (a dataclass): handler and OpenAPI


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
    query: tuple[str, ...] = (),
    media: tuple[str, ...] = ("application/json",),
    out: type | None = None,
) -> Callable[[Handler], Handler]:
    """Decorator collecting handlers into ROUTES."""

    def wrap(handler: Handler) -> Handler:
        responses: dict[int, str] = dict(ok or {200: "done"})
        responses.update(COMMAND if errors is None else errors)
        if body is not None:
            for status, text in BODY.items():  # a route's own wording of them stays
                responses.setdefault(status, text)
        if not roles:
            responses.pop(401, None)
        ROUTES.append(Route(method, path, handler, summary, roles, body, responses, query, media,
                            out))
        return handler

    return wrap


ROUTES: list[Route] = []


def register(app: web.Application, guard: Callable[[Route], Handler]) -> None:
    for r in ROUTES:
        app.router.add_route(r.method, r.path, guard(r), name=r.handler.__name__)


def path_info(request: web.Request, name: str) -> Any:
    return request.match_info[name]
