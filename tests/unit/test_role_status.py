"""What `piecework status` says of a role: probed over HTTP, never guessed."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from deploy.role_status import probe


@contextmanager
def server(answers: dict[str, tuple[int, dict]]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = answers.get(self.path, (404, {}))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def test_a_role_is_up_when_its_metrics_answer() -> None:
    with server({"/metrics": (200, {})}) as address:
        assert probe("views", address) == "up"
    with server({}) as address:
        assert probe("views", address) == "down"  # answers, but not its /metrics
    assert probe("processor", closed_port()) == "down"


def test_the_api_says_ready_or_what_is_not() -> None:
    live = (200, {"live": True})
    with server({"/livez": live, "/readyz": (200, {"ready": True})}) as address:
        assert probe("api", address) == "ready"
    failing = (503, {"ready": False, "not_ready": ["redis", "views_lag"]})
    with server({"/livez": live, "/readyz": failing}) as address:
        assert probe("api", address) == "not ready (redis, views_lag)"
    assert probe("api", closed_port()) == "down"
