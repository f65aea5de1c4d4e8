"""/metrics for the roles without an HTTP server: processor, views and timers.

Port = PIECEWORK_METRICS_PORT (default 9300) + the role's offset + the instance number:
processor 9300-9399, views 9400-9499, timers 9500-9599. The API serves /metrics on its own
HTTP port. Bound to PIECEWORK_METRICS_HOST (default 127.0.0.1); PIECEWORK_METRICS_PORT=off
disables it. Metrics are observability, not correctness: a port that cannot be bound (or
an instance id that is not a number, as test stacks use) is logged and the role runs on.
The timer role also carries what must exist once per deployment: the power collector and
the consumer-lag poller.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, start_http_server

from runtime.config import Settings

log = logging.getLogger(__name__)
DEFAULT_BASE = 9300
ROLE_OFFSETS = {"processor": 0, "views": 100, "timers": 200}
MAX_INSTANCES = 100


def metrics_port(role: str, instance: str, env: Mapping[str, str] | None = None) -> int | None:
    """The role's metrics port, or None when it has none (API, disabled, odd instance)."""
    env = os.environ if env is None else env
    base = env.get("PIECEWORK_METRICS_PORT", str(DEFAULT_BASE)).strip().lower()
    if role not in ROLE_OFFSETS or base in ("", "off", "none"):
        return None
    if not instance.isdigit() or int(instance) >= MAX_INSTANCES:
        log.warning("no metrics port for %s instance %r (needs 0..99)", role, instance)
        return None
    return int(base) + ROLE_OFFSETS[role] + int(instance)


def start_role_metrics(role: str, instance: str, settings: Settings) -> WSGIServer | None:
    """Serve /metrics for this role (a daemon thread); None if not served."""
    port = metrics_port(role, instance)
    if port is None:
        return None
    host = os.environ.get("PIECEWORK_METRICS_HOST", "127.0.0.1")
    try:
        server, _ = start_http_server(port, addr=host)
    except OSError as exc:
        log.error("metrics for %s-%s not served on %s:%s: %s", role, instance, host, port, exc)
        return None
    log.info("metrics of %s-%s on http://%s:%s/metrics", role, instance, host, port)
    if role == "timers":
        _install_deployment_metrics(settings)
    return server


def _install_deployment_metrics(settings: Settings) -> None:
    from consumers.power.collector import PowerCollector
    from consumers.stores.redis_store import RedisStore
    from runtime.config import policy_from_env
    from runtime.consumer_lag import start_lag_poller
    from schemas.commands import TaskSpec

    floors = policy_from_env().wage_floors
    # A pinned list is always reported; by default a currency appears once money moves.
    pinned = os.environ.get("PIECEWORK_POWER_CURRENCIES", "").replace(",", " ").split()
    collector = PowerCollector(
        RedisStore.from_url(settings.redis),
        {c: floor for c, floor in floors.items() if not pinned or c in pinned},
        auto_approve_seconds=_default(TaskSpec, "auto_approve_seconds"),
        top_k=int(os.environ.get("PIECEWORK_POWER_TOP_K", 10)),
        pinned=pinned,
    )
    REGISTRY.register(collector)
    start_lag_poller(settings)


def _default(cls: type, name: str) -> int:
    (field,) = [f for f in dataclasses.fields(cls) if f.name == name]
    return int(field.default)
