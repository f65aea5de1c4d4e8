"""Which metric families each role exports: one registry per role.

Every role imports runtime.metrics, so a shared registry made every process export every
family (the timer served piecework_events_written_total at 0, 218 zero samples in all). A
role's registry holds the families that role updates, the process and Python collectors,
and piecework_build_info; what is once per deployment (power, consumer lag) the timer role
adds to its own (deploy/cli/serve.py).
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Info,
)
from prometheus_client.registry import Collector

from runtime import metrics as m

ROLE_FAMILIES: dict[str, tuple[Collector, ...]] = {
    "processor": (m.COMMANDS, m.REFUSALS, m.EVENTS_WRITTEN, m.DEAD_LETTERS,
                  m.TRANSACTION_SECONDS, m.TRANSACTION_COMMANDS, m.TRANSACTION_ABORTS,
                  m.OWNED_PARTITIONS, m.REBUILD_SECONDS),
    "api": (m.HTTP_REQUESTS, m.HTTP_DURATION, m.COMMAND_LATENCY),
    "views": (m.VIEW_EVENTS, m.VIEW_APPLY_SECONDS, m.DEAD_LETTERS),
    "timers": (m.TIMER_FIRED, m.CONSUMER_LAG),
    "webhooks": (m.WEBHOOK_DELIVERIES, m.WEBHOOK_LATENCY, m.WEBHOOKS_DISABLED),
}  # fmt: skip
_REGISTRIES: dict[str, CollectorRegistry] = {}


def build_labels() -> dict[str, str]:
    try:
        ours = version("piecework")
    except PackageNotFoundError:  # run from a source tree that was never installed
        ours = "unknown"
    return {"version": ours, "python": platform.python_version()}


def role_registry(role: str) -> CollectorRegistry:
    """The registry a role's /metrics serves; one per role and process."""
    registry = _REGISTRIES.get(role)
    if registry is None:
        registry = _REGISTRIES[role] = CollectorRegistry(auto_describe=True)
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR,
                          *ROLE_FAMILIES[role]):  # fmt: skip
            registry.register(collector)
        Info("piecework_build", "The running piecework's version and Python", registry=registry
             ).info(build_labels())  # fmt: skip
    return registry
