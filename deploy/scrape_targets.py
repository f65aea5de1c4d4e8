"""Where each role of `piecework serve` answers, for Prometheus and `piecework status`.

`serve` writes one Prometheus file_sd file per role into <data dir>/prometheus/ for the
instances it starts (`--processes N` runs N processors and N views), and
deploy/prometheus/prometheus.yml reads them: every instance is scraped, none is
hard-coded. `piecework status` reads the same files to know what to probe.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from runtime.metrics_server import metrics_port
from runtime.settings import Settings

log = logging.getLogger(__name__)
WEBHOOKS_OFFSET = 300  # deploy/webhooks.py: instance 0 only
JOBS = ("api", "processor", "views", "timers", "webhooks")


def targets_dir(settings: Settings) -> Path:
    return settings.data_dir / "prometheus"


def scrape_host(settings: Settings) -> str:
    """The address to reach a role on: a wildcard bind is reached on loopback."""
    host = settings.metrics_host
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def address(role: str, instance: str, settings: Settings) -> str | None:
    """host:port of a role instance's /metrics, or None when it serves none."""
    if role == "api":
        host = settings.http_host
        return f"{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{settings.http_port}"
    if role == "webhooks":
        base = settings.metrics_port
        if base is None or instance != "0":
            return None
        return f"{scrape_host(settings)}:{base + WEBHOOKS_OFFSET}"
    port = metrics_port(role, instance, settings.metrics_port, settings.metrics_instance_ports)
    return None if port is None else f"{scrape_host(settings)}:{port}"


def file_sd(specs: Iterable[tuple[str, str]], settings: Settings) -> dict[str, list[dict]]:
    """role -> its file_sd target groups (an `instance_id` label per instance)."""
    found: dict[str, list[dict]] = {role: [] for role in JOBS}
    for role, instance in specs:
        where = address(role, instance, settings)
        if where is not None:
            found[role].append({"targets": [where], "labels": {"instance_id": instance}})
    return found


def write(specs: Iterable[tuple[str, str]], settings: Settings) -> Path | None:
    """Write <data dir>/prometheus/<role>.json for `specs` ((role, instance) pairs); None
    (logged) if it cannot: metrics are observability, serve runs on without them."""
    folder = targets_dir(settings)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for role, groups in file_sd(specs, settings).items():
            path = folder / f"{role}.json"
            temporary = path.with_suffix(".json.tmp")
            temporary.write_text(json.dumps(groups, indent=1) + "\n")
            temporary.replace(path)  # Prometheus never reads half a file
    except OSError as exc:
        log.error("Prometheus target files not written to %s: %s", folder, exc)
        return None
    return folder


def read(settings: Settings) -> list[tuple[str, str, str]]:
    """(role, instance, address) of what `serve` last wrote; the defaults when nothing."""
    folder = targets_dir(settings)
    found = []
    for role in JOBS:
        path = folder / f"{role}.json"
        try:
            groups = json.loads(path.read_text())
        except (OSError, ValueError):
            where = address(role, "0", settings)
            if where is not None:
                found.append((role, "0", where))
            continue
        for group in groups:
            for where in group.get("targets", ()):
                found.append((role, str(group.get("labels", {}).get("instance_id", "0")), where))
    return found
