"""`piecework serve --processes 2` is scraped on every instance by a real Prometheus.

serve writes its file_sd target files into its data dir (deploy/scrape_targets.py); a
Prometheus reading them, as deploy/prometheus/prometheus.yml does, must find two
processors and two views up, and the API, timer and webhook sender. Ports, topics and the
Redis DB are this test's own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from kafka.admin import KafkaAdminClient

from deploy.scrape_targets import JOBS
from testkit.stack_processes import HANG_GUARD_S, OWNER_KEY, PATIENCE_S
from tests.e2e.test_metrics_per_role import free_base
from tests.integration.test_prometheus_server import api, free_port, start_prometheus, stop

DBS = (13, 14, 15)


def claim_db(redis_url: str) -> tuple[redis.Redis, str]:
    for db in DBS:
        url = urlunsplit(urlsplit(redis_url)._replace(path=f"/{db}"))
        client = redis.Redis.from_url(url)
        if client.set(OWNER_KEY, "serve-scrape-test", nx=True, ex=3600):
            return client, url
        client.close()
    pytest.fail(f"Redis DBs {DBS} are all claimed by other test runs")


@pytest.mark.timeout(HANG_GUARD_S)
def test_every_instance_serve_starts_is_scraped(kafka_bootstrap, redis_url, tmp_path) -> None:
    db, url = claim_db(redis_url)
    prefix = f"t.serve.{uuid.uuid4().hex[:8]}"
    data = tmp_path / "data"
    env = {**os.environ, "PIECEWORK_KAFKA": kafka_bootstrap, "PIECEWORK_REDIS": url,
           "PIECEWORK_TOPIC_PREFIX": prefix, "PIECEWORK_PARTITIONS": "2",
           "PIECEWORK_DATA_DIR": str(data), "PIECEWORK_HTTP_PORT": str(free_port()),
           "PIECEWORK_METRICS_PORT": str(free_base()),
           "PIECEWORK_OPERATOR_TOKEN": f"op-{uuid.uuid4().hex}"}  # fmt: skip
    with open(tmp_path / "serve.log", "wb") as log:
        serve = subprocess.Popen([sys.executable, "-m", "deploy.cli", "serve", "--processes", "2"],
                                 env=env, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)  # fmt: skip
    prometheus = None
    try:
        targets = data / "prometheus"
        deadline = time.monotonic() + PATIENCE_S
        while not all((targets / f"{job}.json").exists() for job in JOBS):
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "serve wrote no target files"
            time.sleep(0.5)
        config = tmp_path / "prometheus.yml"
        config.write_text(json.dumps({
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [{"job_name": f"piecework-{job}",
                                "file_sd_configs": [{"files": [str(targets / f"{job}.json")]}]}
                               for job in JOBS],
        }))  # fmt: skip
        prometheus, base = start_prometheus(config, tmp_path / "prometheus.log")
        want = {"piecework-processor": 2, "piecework-views": 2, "piecework-api": 1,
                "piecework-timers": 1, "piecework-webhooks": 1}  # fmt: skip
        up: dict[str, int] = {}
        while up != want:
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, f"up by job: {up}, want {want}"
            time.sleep(1)
            try:
                rows = api(base, "query", query="count by (job) (up == 1)")["result"]
            except OSError:
                continue
            up = {row["metric"]["job"]: int(row["value"][1]) for row in rows}
        ids = api(base, "query", query='up{job="piecework-views"}')["result"]
        assert sorted(r["metric"]["instance_id"] for r in ids) == ["0", "1"]
    finally:
        if prometheus is not None:
            stop(prometheus)
        os.killpg(serve.pid, signal.SIGTERM)
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        admin.delete_topics([t for t in admin.list_topics() if t.startswith(prefix)])
        admin.close()
        db.flushdb()
        db.close()
