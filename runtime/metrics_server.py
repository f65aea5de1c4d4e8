"""/metrics for the roles without an HTTP server: processor, views and timers.

Port = PIECEWORK_METRICS_PORT (default 9300) + the role's offset + the instance number:
processor 9300-9399, views 9400-9499, timers 9500-9599. The API serves /metrics on its own
HTTP port. Bound to PIECEWORK_METRICS_HOST (default 127.0.0.1; 0.0.0.0 in containers);
PIECEWORK_METRICS_PORT=off disables it; PIECEWORK_METRICS_INSTANCE_PORTS=0 gives every
instance its role's port (one per container, instance ids not numbers: docker-compose).
Metrics are observability, not correctness: a port that cannot be bound (or
an instance id that is not a number, as test stacks use) is logged and the role runs on.
What must exist once per deployment (the power collector, the consumer-lag poller) the
timer role's composition root adds (deploy/cli/serve.py): it needs the read side and the
policy, which this module, below both, must not import.
"""

from __future__ import annotations

import logging
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from runtime.metrics_roles import role_registry
from runtime.settings import Settings

log = logging.getLogger(__name__)
ROLE_OFFSETS = {"processor": 0, "views": 100, "timers": 200}
MAX_INSTANCES = 100


def metrics_port(role: str, instance: str, base: int | None,
                 per_instance: bool = True) -> int | None:  # fmt: skip
    """The role's metrics port, or None when it has none (API, disabled, odd instance).
    Not `per_instance` (one instance per container): the role's port, whatever the id."""
    if role not in ROLE_OFFSETS or base is None:
        return None
    if not per_instance:
        return base + ROLE_OFFSETS[role]
    if not instance.isdigit() or int(instance) >= MAX_INSTANCES:
        log.warning("no metrics port for %s instance %r (needs 0..99)", role, instance)
        return None
    return base + ROLE_OFFSETS[role] + int(instance)


def start_role_metrics(role: str, instance: str, settings: Settings) -> WSGIServer | None:
    """Serve this role's registry on /metrics (a daemon thread); None if not served."""
    port = metrics_port(role, instance, settings.metrics_port, settings.metrics_instance_ports)
    if port is None:
        return None
    host = settings.metrics_host
    try:
        server, _ = start_http_server(port, addr=host, registry=role_registry(role))
    except OSError as exc:
        log.error("metrics for %s-%s not served on %s:%s: %s", role, instance, host, port, exc)
        return None
    log.info("metrics of %s-%s on http://%s:%s/metrics", role, instance, host, port)
    return server
