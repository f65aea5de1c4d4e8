"""Each role of a real stack exports its own metric families and no other role's.

A stack with every role (webhooks too) serves its metrics ports (instance "0" on a free
base port); after one claim made end to end each /metrics is scraped and parsed. `piecework
status` run against it lists every role up. Run with -s to see the figures: samples,
zero samples and _created samples per role.
"""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runtime.metrics_roles import ROLE_FAMILIES
from testkit.stack_processes import HANG_GUARD_S, running_stack_on_a_free_db

OFFSETS = {"processor": 0, "views": 100, "timers": 200, "webhooks": 300}


def free_base() -> int:
    """A base port whose four role ports are all free now."""
    for _ in range(50):
        base = random.randrange(20_000, 40_000)
        try:
            for offset in OFFSETS.values():
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise RuntimeError("no free metrics base port")


def scrape(url: str) -> dict[str, list]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def own_or_power(role: str) -> set[str]:
    """What a role may export: its families, and the timer's deployment-wide collectors."""
    from consumers.power.backlog import BacklogCollector
    from consumers.power.collector import PowerCollector
    from consumers.stores.memory_store import MemoryStore

    names = own_families(role)
    if role == "timers":
        for c in (PowerCollector(MemoryStore(), {}, 0), BacklogCollector(MemoryStore(), int)):
            names |= {f.name for f in c.describe()}
    return names


def own_families(role: str) -> set[str]:
    return {family.name for c in ROLE_FAMILIES[role] for family in c.describe()}


@pytest.mark.timeout(HANG_GUARD_S)
def test_each_role_exports_only_its_own_families(kafka_bootstrap, redis_url, tmp_path) -> None:
    base = free_base()
    with running_stack_on_a_free_db(
        kafka_bootstrap, redis_url, tmp_path, dbs=(9, 10, 11, 12), instance="0",
        extra_roles=("webhooks",), extra_env={"PIECEWORK_METRICS_PORT": str(base)},
    ) as stack:  # fmt: skip
        urls = {role: f"http://127.0.0.1:{base + offset}/metrics"
                for role, offset in OFFSETS.items()}  # fmt: skip
        urls["api"] = f"{stack.url}/metrics"
        token = {"Authorization": f"Bearer {stack.operator_token}"}
        unknown = urllib.request.Request(f"{stack.url}/v1/tasks/no-such-task", headers=token)
        with pytest.raises(urllib.error.HTTPError) as answered:  # a 404, timed as its template
            urllib.request.urlopen(unknown, timeout=10)
        assert answered.value.code == 404
        scraped = {role: scrape(url) for role, url in urls.items()}
        # `piecework status` finds the same five roles, the API ready, each with its state.
        status = subprocess.run(
            [sys.executable, "-m", "deploy.cli", "status"], capture_output=True, text=True,
            env={**stack.env, "PIECEWORK_METRICS_PORT": str(base), "COLUMNS": "200"},
            timeout=120)  # fmt: skip
        rows = {line.split("│")[1].strip(): line for line in status.stdout.splitlines()
                if line.count("│") >= 6}  # fmt: skip
        assert "ready" in rows["api"], status.stdout
        for role in OFFSETS:
            assert f"{base + OFFSETS[role]}" in rows[role] and " up " in rows[role], rows

    everyone = set().union(*(own_families(r) for r in ROLE_FAMILIES))
    for role, families in scraped.items():
        ours = {name for name in families if name.startswith("piecework_")}
        foreign = (ours & everyone) - own_families(role)
        unknown = ours - own_or_power(role) - {"piecework_build_info"}
        assert not unknown, f"{role} exports families of no role: {sorted(unknown)}"
        assert not foreign, f"{role} exports other roles' families: {sorted(foreign)}"
        (info,) = families["piecework_build_info"]
        assert set(info.labels) == {"version", "python"}
        samples = [s for f in families.values() for s in f]
        created = [s.name for s in samples if s.name.endswith("_created")]
        assert not created, f"{role} exports _created series: {created[:5]}"
        zeros = sum(1 for s in samples if s.value == 0)
        print(f"{role}: {len(samples)} samples, {zeros} zero, {len(created)} _created,"
              f" {len(ours)} piecework families")  # fmt: skip
    # What each role does shows up in its own registry: decided commands, folded events,
    # the one claim's HTTP requests timed by route template, and the power figures.
    assert "piecework_commands" in scraped["processor"]
    assert any(s.value > 0 for s in scraped["views"]["piecework_view_events"])
    durations = scraped["api"]["piecework_http_request_duration_seconds"]
    assert any(s.labels.get("route") == "/v1/tasks/{task_id}" and s.labels["status"] == "404"
               for s in durations), "requests are timed by route template and status"
    timers = scraped["timers"]
    assert "piecework_wage_floor" in timers and "piecework_reviews" in timers  # power
    assert [s.value for s in timers["piecework_reviews_past_deadline"]] == [0]  # backlog
    assert "piecework_webhook_deliveries" not in scraped["processor"]
