"""Debian's redis-server in the foreground of a process we own (no --daemonize: we keep its pid)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from deploy import processes
from deploy.settings import StackSettings

READY_TIMEOUT = 20.0


def redis_binary() -> str:
    """redis-server on PATH; installed with apt when missing and we are root (CI, containers)."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError("redis-server not found: apt-get install -y redis-server")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "redis-server"], check=True, env=env)
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("apt-get installed redis-server but it is not on PATH")
    return found


# Compact encodings for the views' many small keys (docs/VIEWS.md, "Memory"). A task's
# hash in the tasks view holds its payload as JSON: above 64 bytes (the default) Redis
# turns the whole hash into a hashtable, ~3x the memory. A batch's status sets and a
# group's task set stay listpacks (~23 B a task instead of ~95) up to 1,024 tasks, for
# ~10-20 us more Redis time per status move (bench/zset_listpack.py, docs/DESIGN.md).
# Every name exists in Redis 7.0.
LISTPACK = {
    "hash-max-listpack-entries": "128",
    "hash-max-listpack-value": "1024",
    "zset-max-listpack-entries": "1024",
    "zset-max-listpack-value": "128",
}


def server_args(settings: StackSettings) -> list[str]:
    """A throwaway cache: no RDB snapshots, no AOF; views are rebuilt from Kafka anyway."""
    return [
        "--port", str(settings.redis_port),
        "--bind", settings.redis_host,
        "--save", "",
        "--appendonly", "no",
        "--dir", str(settings.redis_dir),
        "--daemonize", "no",
        *(arg for name, value in LISTPACK.items() for arg in (f"--{name}", value)),
    ]


def log_file(settings: StackSettings) -> Path:
    return settings.log_dir / "redis.log"


def start(settings: StackSettings) -> processes.PidRecord:
    settings.redis_dir.mkdir(parents=True, exist_ok=True)
    cmd = [redis_binary(), *server_args(settings)]
    record = processes.spawn_detached(cmd, log_file(settings), cwd=settings.redis_dir,
                                      address=settings.redis_url)
    processes.write_pid(settings.pid_file("redis"), record)
    wait_ready(settings, record)
    return record


def wait_ready(settings: StackSettings, record: processes.PidRecord) -> None:
    def died() -> str | None:
        if processes.is_running(record):
            return None
        return f"redis-server exited during start-up:\n{processes.tail(log_file(settings))}"

    if not processes.wait_until(lambda: is_ready(settings.redis_url), READY_TIMEOUT, abort=died):
        raise RuntimeError(f"redis not answering PING after {READY_TIMEOUT:.0f}s")


def is_ready(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()
