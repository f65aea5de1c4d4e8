"""What `piecework status` says of the roles: each instance up or down, and the lag.

An instance is up when its /metrics answers (the API: /livez, then /readyz for whether it
is ready). Lag is asked of Kafka for the processor and views groups (committed offsets
against the log's end: runtime/consumer_lag.py), so a dead consumer shows its lag too.
What to probe comes from the file_sd files `serve` writes (deploy/scrape_targets.py).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from kafka.admin import KafkaAdminClient

from deploy import scrape_targets
from runtime.consumer_lag import group_lag, groups
from runtime.settings import Settings

PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class RoleState:
    role: str
    instance: str
    address: str
    state: str  # up, down, or for the API: ready, not ready (what), down
    lag: int | None  # the role's consumer group, records behind (processor and views)


def _get(url: str) -> tuple[int, bytes] | None:
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, ValueError):
        return None


def probe(role: str, address: str) -> str:
    if role != "api":
        answer = _get(f"http://{address}/metrics")
        return "up" if answer is not None and answer[0] == 200 else "down"
    if _get(f"http://{address}/livez") is None:
        return "down"
    answer = _get(f"http://{address}/readyz")
    if answer is None:
        return "down"
    if answer[0] == 200:
        return "ready"
    try:
        failing = json.loads(answer[1]).get("not_ready") or []
    except ValueError:
        failing = []
    return f"not ready ({', '.join(map(str, failing)) or answer[0]})"


def lags(settings: Settings) -> dict[str, int | None]:
    """Consumer group label (processor, views) -> records behind; None if unknown."""
    found: dict[str, int | None] = dict.fromkeys(groups(settings))
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka, client_id="piecework-status",
                                 request_timeout_ms=5_000)  # fmt: skip
    except Exception:  # Kafka down: the stack table says so already
        return found
    try:
        for label, (group_id, topic) in groups(settings).items():
            try:
                found[label] = group_lag(admin, group_id, topic)
            except Exception:  # a missing topic or group: lag unknown
                found[label] = None
    finally:
        admin.close()
    return found


def role_states(settings: Settings) -> list[RoleState]:
    behind = lags(settings)
    return [RoleState(role, instance, where, probe(role, where), behind.get(role))
            for role, instance, where in scrape_targets.read(settings)]  # fmt: skip
