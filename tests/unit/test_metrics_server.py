"""Each role's metrics port, serving /metrics, and the consumer-lag arithmetic."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from runtime.consumer_lag import lag
from runtime.metrics_server import metrics_port, start_role_metrics
from runtime.settings import Settings


@pytest.mark.parametrize(
    ("role", "instance", "env", "port"),
    [
        ("processor", "0", {}, 9300),
        ("processor", "2", {}, 9302),
        ("views", "1", {}, 9401),
        ("timers", "0", {}, 9500),
        ("views", "0", {"PIECEWORK_METRICS_PORT": "19000"}, 19100),
        ("api", "0", {}, None),  # the API serves /metrics on its HTTP port
        ("processor", "0", {"PIECEWORK_METRICS_PORT": "off"}, None),
        ("processor", "3fa9c0de", {}, None),  # test stacks' instance ids
        ("processor", "100", {}, None),  # would run into the views' range
    ],
)
def test_metrics_port(role: str, instance: str, env: dict[str, str], port: int | None) -> None:
    assert metrics_port(role, instance, Settings.from_env(env).metrics_port) == port


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_role_serves_the_default_registry() -> None:
    port = free_port()
    server = start_role_metrics("processor", "0", Settings(metrics_port=port))
    assert server is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
        assert "# TYPE piecework_transaction_seconds histogram" in text
    finally:
        server.shutdown()
        server.server_close()


def test_a_taken_port_costs_the_metrics_not_the_role() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = Settings(metrics_port=taken.getsockname()[1])
        assert start_role_metrics("processor", "0", settings) is None


def test_lag_sums_partitions_and_starts_uncommitted_ones_at_the_log_start() -> None:
    ends = {0: 100, 1: 50, 2: 30}
    starts = {0: 0, 1: 20, 2: 0}
    # p0 committed 90 (10 behind), p1 never committed (30 since its start), p2 ahead of a
    # stale end read (0, not negative)
    assert lag({0: 90, 2: 31}, ends, starts) == 40
    assert lag({0: 90, 1: -1, 2: 31}, ends, starts) == 40  # -1: "no commit" on the wire
    assert lag({}, {}, {}) == 0
