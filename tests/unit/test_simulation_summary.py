"""The simulator's counting client: every call lands in the summary, by outcome."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestServer

from deploy.simulation.summary import Summary, TrackedClient
from deploy.simulation.world import attempt


def _app() -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"claim_id": "r:b:0:c1"}, status=201)

    async def empty(request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def refused(request: web.Request) -> web.Response:
        return web.json_response({"code": "not_pending", "message": "late"}, status=409)

    async def broken(request: web.Request) -> web.Response:
        return web.json_response({"code": "internal_error", "message": "boom"}, status=500)

    app = web.Application()
    app.router.add_post("/ok", ok)
    app.router.add_post("/empty", empty)
    app.router.add_post("/refused", refused)
    app.router.add_get("/broken", broken)
    return app


async def _calls(summary: Summary) -> list[tuple[object, str | None]]:
    async with TestServer(_app()) as server:
        url = str(server.make_url("")).rstrip("/")
        async with TrackedClient(url, "token", summary) as client:
            return [await attempt(client.call(method, path)) for method, path in
                    (("POST", "/ok"), ("POST", "/empty"), ("POST", "/refused"),
                     ("GET", "/broken"))]


def test_each_call_is_counted_once_by_outcome():
    summary = Summary(seed=1, duration_s=1, clock_speed=1, requesters=1, workers=1)
    outcomes = asyncio.run(_calls(summary))

    assert outcomes == [({"claim_id": "r:b:0:c1"}, None), (None, None), (None, "not_pending"),
                        (None, "server_error")]
    assert summary.calls == 4 and summary.reads == 1
    assert summary.refused == {"not_pending": 1}
    assert summary.errors == {"500 internal_error": 1} and summary.server_errors == 1
    assert summary.error_rate == 0.25
    report = summary.to_json()
    assert report["refused"] == {"not_pending": 1} and report["latency_ms"]["p50"] >= 0
