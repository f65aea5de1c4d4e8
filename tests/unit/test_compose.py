"""docker-compose.yml and the Dockerfile: one service per role, scalable, pinned, healthy,
no default token. No Docker engine runs here: `docker-compose config` (Debian's, which
.ci/run installs) validates without one, and the files are read as YAML and text."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy.cli.serve import ROLES

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PROMETHEUS = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus-compose.yml")
                            .read_text())  # fmt: skip
DOCKERFILE = (REPO / "Dockerfile").read_text()
PORTS = {"api": 8080, "processor": 9300, "views": 9400, "timers": 9500, "webhooks": 9600}


def compose_config(**env: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose not installed (apt-get install -y docker-compose)"
    clean = {k: v for k, v in os.environ.items() if k != "PIECEWORK_OPERATOR_TOKEN"}
    return subprocess.run([binary, "config", "-q"], cwd=REPO, capture_output=True, text=True,
                          env={**clean, **env}, timeout=60)  # fmt: skip


def test_compose_refuses_to_start_without_an_operator_token() -> None:
    refused = compose_config()
    assert refused.returncode != 0
    assert "set PIECEWORK_OPERATOR_TOKEN" in refused.stderr
    assert compose_config(PIECEWORK_OPERATOR_TOKEN="t" * 32).returncode == 0
    assert "change-me" not in (REPO / "docker-compose.yml").read_text()


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_a_service_with_a_restart_policy_and_a_healthcheck(role: str) -> None:
    service = SERVICES[role]
    assert service["command"] == [role]  # deploy/container.py becomes `piecework run ROLE`
    assert service["restart"] == "unless-stopped"
    probe = " ".join(service["healthcheck"]["test"])
    want = "/readyz" if role == "api" else "/metrics"
    assert f"127.0.0.1:{PORTS[role]}{want}" in probe
    assert "piecework-data:/data" in service["volumes"]
    assert service["environment"]["PIECEWORK_DATA_DIR"] == "/data"
    assert service["environment"]["PIECEWORK_METRICS_HOST"] == "0.0.0.0"


@pytest.mark.parametrize("role", ["processor", "views"])
def test_scalable_roles_publish_no_host_port_and_have_no_fixed_name(role: str) -> None:
    # `docker-compose up --scale views=2`: a host port or container_name would collide.
    assert "ports" not in SERVICES[role] and "container_name" not in SERVICES[role]


def test_every_image_is_pinned_to_an_exact_version() -> None:
    for name, service in SERVICES.items():
        image = service.get("image", "")
        if service.get("build"):
            continue  # piecework's own
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", image), f"{name}: {image!r}"
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim-\w+$", DOCKERFILE, re.MULTILINE)


def test_prometheus_scrapes_every_replica_of_every_role_by_service_name() -> None:
    jobs = {job["job_name"]: job["dns_sd_configs"][0] for job in PROMETHEUS["scrape_configs"]}
    for role, port in PORTS.items():
        found = jobs[f"piecework-{role}"]
        assert (found["names"], found["type"], found["port"]) == ([role], "A", port)
    mounted = " ".join(SERVICES["prometheus"]["volumes"])
    for name in ("prometheus-compose.yml", "rules.yml", "recording.yml"):
        assert f"deploy/prometheus/{name}" in mounted


def test_the_image_runs_as_piecework_with_a_writable_data_dir_and_the_report_extra() -> None:
    assert re.search(r"^USER piecework$", DOCKERFILE, re.MULTILINE)
    assert "chown piecework:piecework /data" in DOCKERFILE
    assert "PIECEWORK_DATA_DIR=/data" in DOCKERFILE
    assert 'pip install ".[report]"' in DOCKERFILE  # report --html needs matplotlib
    assert 'ENTRYPOINT ["python", "-m", "deploy.container"]' in DOCKERFILE
