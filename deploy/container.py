"""The image's entry point: `python -m deploy.container ROLE` checks, then becomes the role.

What a container needs and a host does not, decided here (and tested outside Docker,
tests/unit/test_container_entrypoint.py) rather than in shell:
- never root: the image's user is `piecework`; a root container would write root-owned
  files into the shared data volume;
- a data dir it can write (PIECEWORK_DATA_DIR, /data, a volume): the views keep their
  Faust state there, and /app is root's;
- no default operator token on a published port: the API (and `serve`) refuse to start
  without PIECEWORK_OPERATOR_TOKEN, or with a placeholder;
- every role answers from other containers: /metrics and the API bind 0.0.0.0;
- a scaled role (`docker-compose up --scale views=2`) needs an id per replica: the
  container's host name (its id), and the role's port on every replica, which is fine
  since each has its own network namespace (PIECEWORK_METRICS_INSTANCE_PORTS=0).
"""

from __future__ import annotations

import os
import re
import socket
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runtime.settings import Settings, SettingsError

SCALABLE = ("processor", "views")  # one process per replica, many replicas
SINGLE = ("api", "timers", "webhooks")  # instance 0; the timer carries deployment metrics
COMMANDS = (*SCALABLE, *SINGLE, "serve", "topics")
NEEDS_TOKEN = ("api", "serve")
PLACEHOLDERS = frozenset({"", "change-me", "changeme", "secret", "token", "operator"})
MIN_TOKEN_CHARS = 16
CONTAINER_DEFAULTS = {"PIECEWORK_METRICS_HOST": "0.0.0.0", "PIECEWORK_HTTP_HOST": "0.0.0.0"}


class ContainerError(RuntimeError):
    """What keeps the container from starting, said in one line."""


@dataclass(frozen=True)
class Plan:
    argv: list[str]
    env: dict[str, str]


def instance_id(hostname: str) -> str:
    """A replica's id from its host name (Docker: the container id), safe in Kafka ids."""
    cleaned = re.sub(r"[^A-Za-z0-9-]", "-", hostname)[:40].strip("-")
    if not cleaned:
        raise ContainerError(f"host name {hostname!r} gives no instance id")
    return cleaned


def check_data_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ContainerError(f"data dir {path} is not writable by uid {os.getuid()}:"
                             f" {exc.strerror}; mount a volume there") from None  # fmt: skip
    return path


def check_token(token: str | None) -> None:
    token = (token or "").strip()
    if token.lower() in PLACEHOLDERS or len(token) < MIN_TOKEN_CHARS:
        raise ContainerError(
            f"set PIECEWORK_OPERATOR_TOKEN to a secret of at least {MIN_TOKEN_CHARS}"
            " characters (e.g. `openssl rand -hex 32`): the API refuses to start without one")


def plan(command: str, env: Mapping[str, str], hostname: str, uid: int) -> Plan:
    """The process to become, or ContainerError saying why not."""
    if command not in COMMANDS:
        raise ContainerError(f"unknown role {command!r}: one of {', '.join(COMMANDS)}")
    if uid == 0:
        raise ContainerError("running as root: the image runs as user piecework (USER in"
                             " the Dockerfile); do not override it")  # fmt: skip
    merged = {**CONTAINER_DEFAULTS, **env}
    try:  # every setting checked once here: a bad one is one line, not a restart loop
        settings = Settings.from_env(merged)
    except SettingsError as exc:
        raise ContainerError(str(exc)) from None
    check_data_dir(settings.data_dir)
    if command in NEEDS_TOKEN:
        check_token(settings.operator_token)
    python = [sys.executable, "-m"]
    if command == "topics":
        return Plan([*python, "deploy.topics"], merged)
    if command == "serve":
        return Plan([*python, "deploy.cli", "serve"], merged)
    if command in SCALABLE:
        merged.setdefault("PIECEWORK_METRICS_INSTANCE_PORTS", "0")
        instance = instance_id(hostname)
    else:
        instance = "0"
    return Plan([*python, "deploy.cli", "run", command, "--instance", instance], merged)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(f"usage: python -m deploy.container {{{'|'.join(COMMANDS)}}}", file=sys.stderr)
        return 2
    try:
        chosen = plan(argv[0], os.environ, socket.gethostname(), os.getuid())
    except ContainerError as exc:
        print(f"piecework: {exc}", file=sys.stderr)
        return 2
    os.execve(chosen.argv[0], chosen.argv, chosen.env)
    return 1  # not reached: execve replaces this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
