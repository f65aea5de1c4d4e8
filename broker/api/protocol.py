"""Errors found before the application runs, in the API's JSON {code, message} form.

aiohttp's HTTP parser refuses a bad request line, header or body encoding before any
middleware runs, and answers in text/plain through RequestHandler.handle_error, logging a
traceback each time (anyone could fill the log by sending garbage). aiohttp 3.14 has no
hook for that answer (aio-libs/aiohttp#3287 is open), so:

- JsonErrorHandler overrides handle_error (a public method of the public RequestHandler)
  to answer JSON and to log one line, not a traceback, for the client's own errors;
- JsonErrorServer is web.Server making that handler for each connection, as its own
  __call__ does;
- ApiRunner is web.AppRunner serving through JsonErrorServer; `serve` runs it in place
  of web.run_app, which always builds a plain AppRunner.

The private names used (Server._loop, Server._kwargs, BaseRunner._make_server) are the
ones aiohttp's own classes use for this since 3.0; tests/e2e/test_hostile_inputs.py
sends raw garbage through a real socket, so a change in them shows up there.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from http import HTTPStatus
from typing import Any

from aiohttp import http_exceptions as hx
from aiohttp import web
from aiohttp.web_request import BaseRequest

from broker.api.responses import error_response

log = logging.getLogger(__name__)

# Most specific first: the first class the error is an instance of names it.
_CODES: tuple[tuple[type[Exception], str], ...] = (
    (hx.BadHttpMethod, "bad_http_method"),
    (hx.BadStatusLine, "bad_request_line"),
    (hx.InvalidURLError, "bad_url"),
    (hx.LineTooLong, "line_too_long"),
    (hx.InvalidHeader, "bad_header"),
    (hx.PayloadEncodingError, "bad_body_encoding"),
    (web.RequestPayloadError, "bad_body_encoding"),
)
# The client's own mistakes: logged in one line, never with a traceback.
CLIENT_ERRORS = (hx.HttpProcessingError, web.RequestPayloadError)


def describe(status: int, exc: BaseException | None) -> tuple[str, str]:
    """(code, message) for a protocol-level error. aiohttp's messages echo the offending
    bytes after a colon (a header line, maybe a token in it): only the part before is kept."""
    if status >= 500:
        return ("timeout", "the request took too long") if status == 504 else (
            "internal_error", "unexpected error (logged)")
    code = next((c for cls, c in _CODES if isinstance(exc, cls)), None)
    if code is None:
        with suppress(ValueError):
            code = HTTPStatus(status).phrase.lower().replace(" ", "_")
    text = getattr(exc, "message", "") or ""
    if not isinstance(text, str):
        text = ""
    reason = text.split("\n", 1)[0].split(":", 1)[0].strip()
    return code or "bad_request", reason or "malformed HTTP request"


class JsonErrorHandler(web.RequestHandler):
    __slots__ = ()

    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:  # fmt: skip
        code, reason = describe(status, exc)
        if status >= 500 and exc is not None:
            self.logger.error("error handling request from %s", request.remote, exc_info=exc)
        else:
            self.logger.info("refused %s from %s: %s (%s)", code, request.remote, reason, status)
        # as aiohttp's own: once bytes of a response are out, a new one cannot follow
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send the error")
        response = error_response(status, code, reason)
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """A body the client encoded wrongly fails again when aiohttp drains it after the
        answer: one line for that, a traceback for anything else."""
        exc = kw.get("exc_info")
        if isinstance(exc, CLIENT_ERRORS):
            self.logger.info("client error: %s", describe(400, exc)[1])
        else:
            super().log_exception(*args, **kw)


class JsonErrorServer(web.Server):
    def __call__(self) -> web.RequestHandler:
        return JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class ApiRunner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = JsonErrorServer  # same state; only the protocol factory differs
        return server


def serve(app: web.Application, host: str, port: int) -> None:
    """web.run_app(app, host=host, port=port) with ApiRunner: until SIGINT or SIGTERM."""

    async def main() -> None:
        # run_app's defaults: an idle keep-alive connection closes after 75 s
        runner = ApiRunner(app, handle_signals=True, keepalive_timeout=75.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            log.info("API listening on http://%s:%d", host, port)
            await asyncio.Event().wait()  # the signal handlers raise GracefulExit
        finally:
            await runner.cleanup()

    with suppress(web.GracefulExit, KeyboardInterrupt):
        asyncio.run(main())
