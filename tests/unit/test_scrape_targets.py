"""`serve --processes N` tells Prometheus about every instance (file_sd), and
`piecework status` reads the same files."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

from deploy import scrape_targets
from runtime.settings import Settings, default_data_dir

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def specs(n: int) -> list[tuple[str, str]]:
    wanted = [("processor", str(i)) for i in range(n)] + [("views", str(i)) for i in range(n)]
    return [*wanted, ("api", "0"), ("timers", "0"), ("webhooks", "0")]


def test_every_instance_of_serve_is_a_target(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, metrics_port=19300, http_port=18080)
    folder = scrape_targets.write(specs(3), settings)
    views = json.loads((folder / "views.json").read_text())
    assert views == [{"targets": [f"127.0.0.1:{19400 + i}"], "labels": {"instance_id": str(i)}}
                     for i in range(3)]  # fmt: skip
    api = json.loads((folder / "api.json").read_text())
    assert api == [{"targets": ["127.0.0.1:18080"], "labels": {"instance_id": "0"}}]
    found = scrape_targets.read(settings)
    assert ("processor", "2", "127.0.0.1:19302") in found
    assert ("webhooks", "0", "127.0.0.1:19600") in found
    assert len(found) == 9


def test_status_probes_the_defaults_before_serve_wrote_anything(tmp_path: Path) -> None:
    found = scrape_targets.read(Settings(data_dir=tmp_path / "none"))
    assert [(r, where) for r, _, where in found] == [
        ("api", "127.0.0.1:8080"), ("processor", "127.0.0.1:9300"), ("views", "127.0.0.1:9400"),
        ("timers", "127.0.0.1:9500"), ("webhooks", "127.0.0.1:9600")]  # fmt: skip


def test_a_wildcard_bind_is_scraped_on_loopback(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, metrics_host="0.0.0.0")
    assert scrape_targets.address("timers", "0", settings) == "127.0.0.1:9500"


def test_prometheus_yml_reads_the_files_serve_writes_by_default() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    folder = scrape_targets.targets_dir(Settings(data_dir=default_data_dir()))
    for job in config["scrape_configs"]:
        role = job["job_name"].removeprefix("piecework-")
        (files,) = [sd["files"] for sd in job["file_sd_configs"]]
        assert [(PROMETHEUS / f).resolve() for f in files] == [folder / f"{role}.json"]
    assert {j["job_name"] for j in config["scrape_configs"]} == {
        f"piecework-{r}" for r in scrape_targets.JOBS}


def test_promtool_accepts_the_target_files(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    folder = scrape_targets.write(specs(2), settings)
    config = tmp_path / "p.yml"
    config.write_text(json.dumps({"scrape_configs": [
        {"job_name": "v", "file_sd_configs": [{"files": [str(folder / "views.json")]}]}]}))
    binary = shutil.which("promtool")
    assert binary, "promtool not found: apt-get install prometheus"
    done = subprocess.run([binary, "check", "config", str(config)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_data_dir_that_cannot_be_written_costs_the_files_not_serve(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert scrape_targets.write(specs(1), Settings(data_dir=tmp_path / "file")) is None
