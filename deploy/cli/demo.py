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
    p.add_argument("--port", type=int, default=int(os.environ.get("PIECEWORK_HTTP_PORT", 8080)))
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


def _demo_env(args: argparse.Namespace) -> dict[str, str]:
    import redis

    base = os.environ.get("PIECEWORK_REDIS", "redis://127.0.0.1:6379/0")
    db = os.environ.get("PIECEWORK_DEMO_REDIS_DB", "1")
    redis_url = urlunsplit(urlsplit(base)._replace(path=f"/{db}"))
    redis.Redis.from_url(redis_url).flushdb()
    return {
        **os.environ,
        "PIECEWORK_REDIS": redis_url,
        "PIECEWORK_TOPIC_PREFIX": f"demo-{time.strftime('%Y%m%d-%H%M%S')}",
        "PIECEWORK_HTTP_PORT": str(args.port),
        "PIECEWORK_OPERATOR_TOKEN": os.environ.get("PIECEWORK_OPERATOR_TOKEN")
        or secrets.token_urlsafe(24),
        "PIECEWORK_CLOCK_SPEED": str(args.clock_speed),
        "PIECEWORK_CLOCK_ORIGIN_MS": str(time.time_ns() // 1_000_000),
        # Pay out every marketplace day, from 1 EUR.
        "PIECEWORK_PAYOUT_INTERVAL_SECONDS": os.environ.get(
            "PIECEWORK_PAYOUT_INTERVAL_SECONDS", "86400"
        ),
    }


def run_demo(args: argparse.Namespace) -> int:
    env = _demo_env(args)
    url = f"http://127.0.0.1:{args.port}"
    _piecework("up", env=env)
    console.rule(f"piecework serve on {url} (topics {env['PIECEWORK_TOPIC_PREFIX']}.*)")
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
