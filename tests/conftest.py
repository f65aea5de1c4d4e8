"""Shared fixtures: a real Kafka and Redis for integration and e2e tests, never a fake.

Where they come from, first that works:
1. PIECEWORK_KAFKA / PIECEWORK_REDIS (defaults 127.0.0.1:9092, redis://127.0.0.1:6379/0)
   when they answer, e.g. after `piecework up` (what `make test` does);
2. testcontainers, when a Docker engine answers;
3. the local launcher (deploy/), started for the session and stopped at its end.
If none works the fixture errors: integration tests fail, they never skip.
"""

from __future__ import annotations

import os
import re
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

# kafka-python 3.0 loads its protocol schemas with importlib's deprecated read_text/open_text:
# 200+ warnings per run that are not ours and hide the ones that are. Filtered before the
# import below (this file loads before pytest_configure) and for later phases in pytest_configure.
KAFKA_PYTHON_NOISE = ("read_text is deprecated", "open_text is deprecated")
for _message in KAFKA_PYTHON_NOISE:
    warnings.filterwarnings("ignore", message=_message, category=DeprecationWarning)

from deploy import kafka_launcher, redis_launcher, stack  # noqa: E402 - after the filter
from deploy import settings as stack_settings  # noqa: E402
from deploy.topics import create_topics, ensure_topics  # noqa: E402
from runtime.settings import Settings  # noqa: E402

if TYPE_CHECKING:
    from testcontainers.community.kafka import KafkaContainer

TEST_REDIS_DB = int(os.environ.get("PIECEWORK_TEST_REDIS_DB", "15"))
# Same Kafka generation as the local launcher and docker-compose (cp-kafka 7.9 is Kafka 3.9).
KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.1"
REDIS_IMAGE = "redis:7"
MARKED_DIRS = {"integration": "integration", "e2e": "e2e"}


def pytest_configure(config: pytest.Config) -> None:
    for message in KAFKA_PYTHON_NOISE:
        config.addinivalue_line("filterwarnings", f"ignore:{message}:DeprecationWarning")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        parts = Path(str(item.path)).resolve().relative_to(tests_dir).parts
        if parts and parts[0] in MARKED_DIRS:
            item.add_marker(getattr(pytest.mark, MARKED_DIRS[parts[0]]))


def _docker_answers() -> bool:
    """A bounded ping: with no daemon this returns False at once instead of hanging."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _kafka_container() -> KafkaContainer:
    from testcontainers.community.kafka import KafkaContainer

    # KafkaContainer sets the offsets topic to one replica but not the transaction log:
    # without these, init_transactions waits forever for a coordinator on one broker.
    return (
        KafkaContainer(KAFKA_IMAGE)
        .with_kraft()
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
    )


@pytest.fixture(scope="session")
def _stack_endpoints() -> Iterator[dict[str, str]]:
    settings = Settings.from_env()
    cfg = stack_settings.for_settings(settings)
    endpoints: dict[str, str] = {}
    if kafka_launcher.is_ready(cfg.kafka_bootstrap):
        endpoints["kafka"] = cfg.kafka_bootstrap
    if redis_launcher.is_ready(cfg.redis_url):
        endpoints["redis"] = cfg.redis_url
    containers: list = []
    started: list[str] = []
    try:
        missing = [name for name in ("kafka", "redis") if name not in endpoints]
        if missing and _docker_answers():
            from testcontainers.community.redis import RedisContainer

            if "kafka" in missing:
                containers.append(_kafka_container().start())
                endpoints["kafka"] = containers[-1].get_bootstrap_server()
            if "redis" in missing:
                containers.append(RedisContainer(REDIS_IMAGE).start())
                r = containers[-1]
                endpoints["redis"] = f"redis://{r.get_container_host_ip()}:{r.get_exposed_port(6379)}/0"
        elif missing:
            states = stack.up(cfg, missing)
            started = [s.name for s in states if s.action == "started"]
            endpoints.update({name: stack.SERVICES[name].address(cfg) for name in missing})
        ensure_topics(endpoints["kafka"], cfg.partitions, settings.topics)
        yield endpoints
    finally:
        for container in reversed(containers):
            container.stop()
        if started:
            stack.down(cfg, started)


@pytest.fixture(scope="session")
def kafka_bootstrap(_stack_endpoints: dict[str, str]) -> str:
    """bootstrap_servers of a real broker with piecework's topics created."""
    return _stack_endpoints["kafka"]


@pytest.fixture(scope="session")
def redis_url(_stack_endpoints: dict[str, str]) -> str:
    return _stack_endpoints["redis"]


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A per-test prefix for topic names, group ids and Redis keys: runs never collide."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:40].strip("-")
    return f"t.{name}.{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def redis_test_url(redis_url: str) -> str:
    """The same server, test DB 15 (PIECEWORK_TEST_REDIS_DB): tests never write the app's DB."""
    return urlunsplit(urlsplit(redis_url)._replace(path=f"/{TEST_REDIS_DB}"))


@pytest.fixture
def redis_client(redis_test_url: str, unique_name: str) -> Iterator[redis.Redis]:
    """A client on the test DB; keys under `unique_name` are deleted after the test.

    Deleting by prefix rather than FLUSHDB: other test runs may share the same Redis at once.
    """
    client = redis.Redis.from_url(redis_test_url)
    try:
        yield client
    finally:
        keys = list(client.scan_iter(match=f"{unique_name}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def create_topic(kafka_bootstrap: str, unique_name: str) -> Iterator[Callable[..., str]]:
    """create_topic("in", partitions=1) -> "<unique_name>.in"; deleted after the test."""
    created: list[str] = []

    def _create(suffix: str, partitions: int = 1, configs: Mapping[str, str] | None = None) -> str:
        name = f"{unique_name}.{suffix}"
        create_topics(kafka_bootstrap, {name: dict(configs or {})}, partitions)
        created.append(name)
        return name

    yield _create
    if created:
        from kafka.admin import KafkaAdminClient

        with KafkaAdminClient(bootstrap_servers=kafka_bootstrap) as admin:
            admin.delete_topics(created, raise_errors=False)
