"""The image's entry point (deploy/container.py), outside Docker: user, paths, settings."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.container import ContainerError, instance_id, plan
from runtime.metrics_server import metrics_port
from runtime.settings import Settings

TOKEN = "0123456789abcdef0123"
USER = 10001


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"PIECEWORK_DATA_DIR": str(tmp_path / "data"), **extra}


def test_a_scaled_role_runs_under_its_container_id_on_its_roles_port(tmp_path: Path) -> None:
    chosen = plan("views", env(tmp_path), "3f2a9c1d4e5b", USER)
    assert chosen.argv[-4:] == ["run", "views", "--instance", "3f2a9c1d4e5b"]
    assert chosen.env["PIECEWORK_METRICS_HOST"] == "0.0.0.0"
    settings = Settings.from_env(chosen.env)
    # every replica on 9400 (its own network namespace), the id not being a number
    assert metrics_port("views", "3f2a9c1d4e5b", settings.metrics_port,
                        settings.metrics_instance_ports) == 9400  # fmt: skip
    assert (tmp_path / "data").is_dir()


def test_single_roles_are_instance_0_and_settings_given_win(tmp_path: Path) -> None:
    chosen = plan("timers", env(tmp_path, PIECEWORK_METRICS_HOST="10.0.0.5"), "h", USER)
    assert chosen.argv[-4:] == ["run", "timers", "--instance", "0"]
    assert chosen.env["PIECEWORK_METRICS_HOST"] == "10.0.0.5"
    assert "PIECEWORK_METRICS_INSTANCE_PORTS" not in chosen.env


def test_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ContainerError, match="root"):
        plan("views", env(tmp_path), "h", 0)


@pytest.mark.parametrize("token", [None, "", "change-me", "short"])
def test_the_api_needs_a_real_operator_token(tmp_path: Path, token: str | None) -> None:
    given = env(tmp_path) if token is None else env(tmp_path, PIECEWORK_OPERATOR_TOKEN=token)
    for command in ("api", "serve"):
        with pytest.raises(ContainerError, match="PIECEWORK_OPERATOR_TOKEN"):
            plan(command, given, "h", USER)
    plan("views", given, "h", USER)  # only what serves the API needs one
    plan("api", env(tmp_path, PIECEWORK_OPERATOR_TOKEN=TOKEN), "h", USER)


def test_a_data_dir_that_cannot_be_made_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ContainerError, match="not writable"):
        plan("views", {"PIECEWORK_DATA_DIR": str(tmp_path / "file" / "data")}, "h", USER)



def test_a_bad_setting_stops_the_container_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(ContainerError, match="PIECEWORK_PARTITIONS must be"):
        plan("views", env(tmp_path, PIECEWORK_PARTITIONS="abc"), "h", USER)


def test_unknown_roles_and_odd_host_names(tmp_path: Path) -> None:
    with pytest.raises(ContainerError, match="unknown role"):
        plan("shell", env(tmp_path), "h", USER)
    assert instance_id("web_1.example") == "web-1-example"
    with pytest.raises(ContainerError):
        instance_id("...")


def test_a_user_who_cannot_write_the_data_dir_gets_one_line_not_a_crash_loop(
    tmp_path: Path,
) -> None:
    """What the old image did: the views as user piecework in root-owned /app. Run for real
    as another user (setpriv, when root) against a directory it cannot write."""
    owned = tmp_path / "app"
    owned.mkdir(mode=0o755)
    cmd = [sys.executable, "-m", "deploy.container", "views"]
    if os.getuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv not found (util-linux)"
        os.chmod(tmp_path, 0o755)
        cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    else:
        owned.chmod(0o555)
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2],
        env={"PATH": os.environ["PATH"], "PIECEWORK_DATA_DIR": str(owned / "var"),
             "PYTHONPATH": str(Path(__file__).parents[2])})  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "not writable" in done.stderr, done.stderr
