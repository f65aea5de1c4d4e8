"""`piecework demo`: the main job. Stack up, serve, simulate a marketplace, report, audit.

Each run gets its own topic prefix and an emptied Redis database (PIECEWORK_DEMO_REDIS_DB,
default 1), so the report speaks of this run's marketplace only.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from rich.console import Console

from runtime.settings import Settings

console = Console(stderr=True)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="run a simulated marketplace end to end and report")
    p.add_argument("--duration", type=float, default=90.0, help="simulated wall seconds")
    p.add_argument(
        "--clock-speed",
        type=float,
        default=600.0,
        help="marketplace seconds per wall second (600: 10 minutes per second)",
    )
    p.add_argument("--requesters", type=int, default=6)
    p.add_argument("--workers", type=int, default=40)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--html", type=Path, default=Path("report.html"))
    p.add_argument("--port", type=int, help="the API's port (default: $PIECEWORK_HTTP_PORT)")
    p.set_defaults(func=run_demo)


def _piecework(*args: str, env: dict[str, str], check: bool = True) -> int:
    result = subprocess.run([sys.executable, "-m", "deploy.cli", *args], env=env)
    if check and result.returncode != 0:
        raise SystemExit(f"piecework {' '.join(args)} failed with {result.returncode}")
    return result.returncode


def _wait_healthy(url: str, serve: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if serve.poll() is not None:
            raise SystemExit("piecework serve exited during start-up")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {timeout:.0f}s")


def _demo_env(args: argparse.Namespace, settings: Settings) -> dict[str, str]:
    """The environment of the demo's child processes: this one's, with the demo's own
    topics, Redis database, port, clock and operator token."""
    import redis

    redis_url = urlunsplit(urlsplit(settings.redis)._replace(path=f"/{settings.demo_redis_db}"))
    redis.Redis.from_url(redis_url).flushdb()
    return {
        **os.environ,
        "PIECEWORK_REDIS": redis_url,
        "PIECEWORK_TOPIC_PREFIX": f"demo-{time.strftime('%Y%m%d-%H%M%S')}",
        "PIECEWORK_HTTP_PORT": str(args.port),
        "PIECEWORK_OPERATOR_TOKEN": settings.operator_token or secrets.token_urlsafe(24),
        "PIECEWORK_CLOCK_SPEED": str(args.clock_speed),
        "PIECEWORK_CLOCK_ORIGIN_MS": str(time.time_ns() // 1_000_000),
        # Pay out every marketplace day (the default), from 1 EUR.
        "PIECEWORK_PAYOUT_INTERVAL_SECONDS": str(settings.payout_interval_seconds),
    }


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    if args.port is None:
        args.port = settings.http_port
    env = _demo_env(args, settings)
    url = f"http://127.0.0.1:{args.port}"
    _piecework("up", env=env)
    topics = Settings.from_env(env).topics  # what the children will read
    console.rule(f"piecework serve on {url} (topics {topics.prefix}.*)")
    serve = subprocess.Popen([sys.executable, "-m", "deploy.cli", "serve"], env=env)
    try:
        _wait_healthy(url, serve)
        console.print(f"metrics: {url}/metrics   API: {url}/openapi.json")
        console.rule(
            f"simulating {args.duration:.0f}s at {args.clock_speed:g}x "
            f"({args.duration * args.clock_speed / 3600:.1f} marketplace hours)"
        )
        _piecework(
            "simulate",
            "--url",
            url,
            "--seed",
            str(args.seed),
            "--duration",
            str(args.duration),
            "--requesters",
            str(args.requesters),
            "--workers",
            str(args.workers),
            "--clock-speed",
            str(args.clock_speed),
            env=env,
        )
        console.rule("waiting for the views to catch up with the log")
        _piecework("lag", "--wait", "60", env=env)
        console.rule("power report")
        _piecework("report", "--html", str(args.html), env=env)
        console.rule("audit: replay the log, rebuild every view, check every invariant")
        audited = _piecework("audit", env=env, check=False)
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
    console.print(f"HTML report: {args.html.resolve()}")
    return audited
