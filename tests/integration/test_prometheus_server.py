"""A real Prometheus scrapes the power collector over a real Redis and gets power_report's
figures, as gauges and as the recording rules' all-time ratios of the counters; the alert
and recording rules load and evaluate on them.

Debian's `prometheus` binary (installed by .ci/run) is started on a free loopback port
with a generated config; missing, the test fails. The view keys have no prefix, so the
views get a Redis DB of their own: the first of 7, 6, 5 (or PIECEWORK_PROMETHEUS_TEST_DB)
this test can claim with the test stacks' owner key (a running stack flushes its DB).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from prometheus_client import CollectorRegistry, start_http_server

from broker.domain.policy import Policy
from consumers.engine.runner import fold_log
from consumers.power.collector import PowerCollector
from consumers.power.figures import power_report
from consumers.stores.redis_store import RedisStore
from testkit.stack_processes import OWNER_KEY
from tests.view_story import full_story

PINNED_DB = os.environ.get("PIECEWORK_PROMETHEUS_TEST_DB")
CANDIDATE_DBS = [int(PINNED_DB)] if PINNED_DB else [7, 6, 5]
OWNER = "prometheus-test"
PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = [str(PROMETHEUS_DIR / "rules.yml"), str(PROMETHEUS_DIR / "recording.yml")]
READY_TIMEOUT_S = 60.0
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def views(redis_url: str) -> Iterator[RedisStore]:
    """An emptied DB as the views store, owned by this test while it runs."""
    for db in CANDIDATE_DBS:
        url = urlunsplit(urlsplit(redis_url)._replace(path=f"/{db}"))
        client = redis.Redis.from_url(url, decode_responses=True)
        if client.set(OWNER_KEY, OWNER, nx=True, ex=600):
            break
        client.close()
    else:
        pytest.fail(f"Redis DBs {CANDIDATE_DBS} are all claimed by other test runs")
    client.flushdb()
    client.set(OWNER_KEY, OWNER, ex=600)
    try:
        yield RedisStore(client)
    finally:
        client.flushdb()  # the owner key with it
        client.close()


def start_prometheus(config: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """Debian's prometheus on a free loopback port; returns the process and its base URL."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus not found: apt-get install prometheus (.ci/run installs it)"
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={config.parent / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return process, f"http://127.0.0.1:{port}"


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def api(base: str, path: str, **params: str) -> Any:
    url = f"{base}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def query(base: str, promql: str) -> dict[str, float]:
    """{metric name with its distinguishing labels: value} of an instant query."""
    found = {}
    for row in api(base, "query", query=promql)["result"]:
        labels = {k: v for k, v in row["metric"].items() if k not in ("job", "instance")}
        name = labels.pop("__name__")
        found[name + json.dumps(labels, sort_keys=True)] = float(row["value"][1])
    return found


def wait_for(condition: Callable[[], T], process: subprocess.Popen, log: Path, what: str) -> T:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"prometheus exited:\n{log.read_text()}"
        try:
            result = condition()
            if result:
                return result
        except OSError:
            pass  # not listening yet
        time.sleep(0.25)
    raise AssertionError(f"no {what} within {READY_TIMEOUT_S:.0f} s\n{log.read_text()}")


def test_prometheus_scrapes_power_report_figures(views: RedisStore, tmp_path: Path) -> None:
    fold_log(full_story().records, views)
    floors = Policy().wage_floors
    registry = CollectorRegistry()
    registry.register(PowerCollector(views, floors, 259_200, cache_seconds=0.5))
    exporter, _ = start_http_server(0, addr="127.0.0.1", registry=registry)
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({  # JSON is YAML
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": RULES,
        "scrape_configs": [{
            "job_name": "piecework-timers",
            "static_configs": [{"targets": [f"127.0.0.1:{exporter.server_port}"]}],
        }],
    }))  # fmt: skip
    log = tmp_path / "prometheus.log"
    process, base = start_prometheus(config, log)
    try:
        got = wait_for(lambda: query(base, '{__name__=~"piecework_.+", currency="EUR"}'),
                       process, log, "power gauges in Prometheus")  # fmt: skip
        want = power_report(views, "EUR", floors["EUR"])
        wage = want["effective_hourly_wage"]
        expected = {
            'piecework_effective_hourly_wage{"currency": "EUR", "quantile": "0.5"}':
                wage["median"] / 1e6,
            'piecework_effective_hourly_wage{"currency": "EUR", "quantile": "0.9"}':
                wage["p90"] / 1e6,
            'piecework_wage_floor{"currency": "EUR"}': floors["EUR"] / 1e6,
            'piecework_take_rate{"currency": "EUR"}': want["take_rate"],
            'piecework_worker_earnings_gini{"currency": "EUR"}': want["gini"],
            'piecework_requester_spend_hhi{"currency": "EUR"}': want["hhi"],
            'piecework_pay_total{"currency": "EUR"}': want["totals"]["paid"] / 1e6,
        }  # fmt: skip
        assert {k: got.get(k) for k in expected} == pytest.approx(expected)
        # Nobody was paid in USD: no wage figures that would read 0/h against its floor.
        assert not query(base, 'piecework_effective_hourly_wage{currency="USD"}')
        # Figures no currency splits carry no currency label.
        assert not query(base, '{__name__=~"piecework_(reviews|work_seconds)_total",'
                               ' currency!=""}')  # fmt: skip

        # The recording rules' all-time ratios are the report's own figures.
        def recorded() -> dict[str, float]:
            return query(base, '{__name__=~"piecework:(rejection_rate|unpaid_work_ratio'
                               '|requester_rejection_rate):ratio"}')  # fmt: skip

        ratios = wait_for(lambda: len(recorded()) >= 3 and recorded(), process, log,
                          "recording rules")  # fmt: skip
        assert ratios["piecework:rejection_rate:ratio{}"] == pytest.approx(
            want["rejection_rate"]["platform"], abs=1e-6)
        assert ratios["piecework:unpaid_work_ratio:ratio{}"] == pytest.approx(
            want["unpaid_work_ratio"], abs=1e-6)
        assert ratios['piecework:requester_rejection_rate:ratio{"requester": "zeta"}'] == (
            pytest.approx(want["rejection_rate"]["by_requester"]["zeta"], abs=1e-6))

        groups = api(base, "rules")["groups"]
        assert {g["name"] for g in groups} >= {"piecework-power", "piecework-power-ratios",
                                               "piecework-rejection-outliers"}  # fmt: skip
        unhealthy = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"]
                     if r["health"] == "err"]  # fmt: skip
        assert not unhealthy, unhealthy
    finally:
        stop(process)
        exporter.shutdown()
        exporter.server_close()
