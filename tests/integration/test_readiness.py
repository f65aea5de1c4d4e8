"""/readyz follows Kafka and Redis: ready on a live stack, 503 naming Redis once it stops.

The API runs in-process on the real Kafka (topics of its own) and a private redis-server
on a free port, started here and stopped here: the shared Redis is never touched.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import redis
from aiohttp.test_utils import TestClient, TestServer
from kafka.admin import KafkaAdminClient

from broker.api.app import live_services, make_app
from broker.api.health import views_lag
from broker.client import Client
from broker.domain.policy import Policy
from deploy.topics import create_topics
from runtime.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def private_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("redis-server")
    assert binary, "redis-server not found: apt-get install redis-server"
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(workdir), "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert process.poll() is None and time.monotonic() < deadline, "redis did not start"
            time.sleep(0.1)
    client.close()
    return process, url


async def probe(client: TestClient, path: str) -> tuple[int, dict]:
    response = await client.get(path)
    return response.status, await response.json()


async def scenario(settings: Settings, redis_process: subprocess.Popen) -> None:
    app = make_app(live_services(settings, Policy()), max_body_bytes=1 << 20)
    async with TestClient(TestServer(app)) as client:
        status, body = await probe(client, "/readyz")
        assert (status, body["ready"], body["not_ready"]) == (200, True, []), body
        lag = next(c for c in body["checks"] if c["name"] == "views_lag")
        assert lag["lag"] == 0, lag  # no event written yet
        base = str(client.make_url("/")).rstrip("/")
        async with Client(base) as python_client:  # the Python client, no token needed
            assert (await python_client.ready())["ready"] is True

        redis_process.terminate()
        redis_process.wait(timeout=15)
        await asyncio.sleep(1.1)  # past the one second an answer is reused
        status, body = await probe(client, "/readyz")
        assert status == 503, body
        assert body["ready"] is False
        assert "redis" in body["not_ready"] and "kafka" not in body["not_ready"], body
        async with Client(base) as python_client:  # a 503 is an answer, not an error
            assert (await python_client.ready())["not_ready"] == body["not_ready"]
        redis_check = next(c for c in body["checks"] if c["name"] == "redis")
        assert redis_check["ok"] is False and redis_check["detail"], redis_check
        # Liveness looks at the process only: a Redis outage must not get it restarted.
        assert await probe(client, "/livez") == (200, {"live": True})
        assert (await client.get("/healthz")).status == 200


def test_readiness_fails_when_redis_stops(kafka_bootstrap: str, tmp_path: Path) -> None:
    redis_process, url = private_redis(tmp_path)
    prefix = f"t.ready.{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env({"PIECEWORK_KAFKA": kafka_bootstrap, "PIECEWORK_REDIS": url,
                                  "PIECEWORK_TOPIC_PREFIX": prefix,
                                  "PIECEWORK_PARTITIONS": "2"})  # fmt: skip
    create_topics(settings.kafka, settings.topics.creation_configs(), settings.partitions)
    try:
        asyncio.run(scenario(settings, redis_process))
    finally:
        if redis_process.poll() is None:
            redis_process.kill()
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        admin.delete_topics([t for t in admin.list_topics() if t.startswith(prefix)])
        admin.close()


def test_views_lag_counts_from_the_slowest_view_and_the_log_start() -> None:
    ends, starts = {0: 10, 1: 5}, {0: 0, 1: 2}
    # view a applied offset 7 of p0 (position 7 << 16), view b offset 3: b is the slowest
    stored = [{"0": str(7 << 16), "1": str(4 << 16 | 2)}, {"0": str(3 << 16)}]
    # p0: 10 - (3 + 1) = 6; p1: b stored nothing, from the log start: 5 - 2 = 3
    assert views_lag(ends, starts, stored) == 9
    assert views_lag(ends, starts, [{"0": str(9 << 16), "1": str(4 << 16)}]) == 0
    assert views_lag({0: 3}, {}, []) == 3
