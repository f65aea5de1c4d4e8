"""`piecework demo`: the main job. Stack up, serve, simulate a marketplace, report, audit.

Each run gets its own topic prefix and an emptied Redis database (PIECEWORK_DEMO_REDIS_DB,
default 1), so the report speaks of this run's marketplace only.

The terminal gets the progress and the results only: one line per step, the simulation's
progress bars, the power report's tables, the audit's verdict and what to open. Every
process logs to its own file under <data dir>/logs (serve's roles to <role>.log, the
steps' own output to demo.log), so a failed step is told with the tail of its log.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rich.console import Console

from deploy.cli.errors import UserError
from deploy.processes import tail
from deploy.simulation.compare import split_lines
from runtime.settings import Settings

console = Console(stderr=True, highlight=False)
SERVE_START_S = 90.0
LOG = object()  # Steps.run: this stream goes to demo.log


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="run a simulated marketplace end to end and report",
        description="Start the stack (`piecework up`) and `piecework serve`, simulate a "
        "marketplace through the API, then print the power report and audit the log. "
        "Logs go to <data dir>/logs, not to the terminal.")  # fmt: skip
    p.add_argument("--duration", type=float, default=90.0, help="simulated wall seconds")
    p.add_argument(
        "--clock-speed",
        type=float,
        default=600.0,
        help="marketplace seconds per wall second (600: 10 minutes per second)",
    )
    p.add_argument("--requesters", type=int, default=6, help="requesters (default 6)")
    p.add_argument("--workers", type=int, default=40, help="workers (default 40)")
    p.add_argument("--seed", type=int, default=7,
                   help="the same seed plays the same marketplace (default 7)")  # fmt: skip
    p.add_argument("--html", type=Path, default=Path("report.html"),
                   help="where the HTML power report goes (default report.html)")  # fmt: skip
    p.add_argument("--port", type=int, help="the API's port (default: $PIECEWORK_HTTP_PORT)")
    p.add_argument("--keep", action="store_true",
                   help="leave `piecework serve` running at the end, to explore the API "
                   "and /metrics (the demo says how to stop it)")  # fmt: skip
    p.set_defaults(func=run_demo)


class Steps:
    """Runs the demo's `piecework` subcommands with their output in the demo's log."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir = env, log_dir
        self.log = log_dir / "demo.log"

    def run(self, *args: str, check: bool = True, stdout: Any = LOG, stderr: Any = LOG) -> int:
        """`piecework ARGS` with its output in the log, but for the stream given as None
        (the terminal: the report's tables, the simulation's progress) or a file."""
        with self.log.open("ab") as log:
            log.write(f"\n$ piecework {' '.join(args)}\n".encode())
            log.flush()
            result = subprocess.run([sys.executable, "-m", "deploy.cli", *args], env=self.env,
                                    stdout=log if stdout is LOG else stdout,
                                    stderr=log if stderr is LOG else stderr)  # fmt: skip
        if check and result.returncode != 0:
            raise UserError(f"`piecework {args[0]}` failed with status {result.returncode}; "
                            f"the end of {self.log}:\n{tail(self.log, 15)}")  # fmt: skip
        return result.returncode


@contextmanager
def step(what: str) -> Iterator[dict[str, str]]:
    """A spinner while the step runs (on a terminal), then one line: what, how long, and
    the `done` text the step filled in."""
    said: dict[str, str] = {}
    started = time.monotonic()
    with console.status(what + " ..."):
        yield said
    took = time.monotonic() - started
    console.print(f"[green]✓[/] {said.get('done', what)} [dim]({took:.1f} s)[/]")


def _wait_healthy(url: str, serve: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVE_START_S
    while time.monotonic() < deadline:
        if serve.poll() is not None:
            raise UserError(f"piecework serve exited during start-up; the end of {log}:\n"
                            f"{tail(log, 15)}")  # fmt: skip
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise UserError(f"{url} did not answer within {SERVE_START_S:.0f} s; see {log}")


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


def simulation_line(summary: dict[str, Any]) -> str:
    latency = summary.get("latency_ms", {})
    return (f"simulated {summary['tasks_posted']:,} tasks posted, {summary['claims']:,} "
            f"claims, {summary['approvals']:,} approvals, {summary['rejections']:,} "
            f"rejections, {summary['payouts']:,} payouts: {summary['calls']:,} API calls "
            f"({summary['calls_per_s']:g}/s, p99 {latency.get('p99', '?')} ms), "
            f"{summary['server_errors']} server errors")  # fmt: skip


def audit_line(report: dict[str, Any]) -> str:
    checks = report.get("checks", {})
    passed = sum(1 for v in checks.values() if v == 0)
    views = "views match the log" if report.get("views_match") else (
        report.get("views_note") or "views not compared")  # fmt: skip
    if report.get("ok"):
        return (f"[green]OK[/]: {report['events']:,} events replayed, {passed} of "
                f"{len(checks)} checks passed, {views}")  # fmt: skip
    first = "; ".join(str(v) for v in report.get("violations", [])[:2])
    return f"[red]{len(report.get('violations', []))} violation(s)[/]: {first}"


def _metrics_urls(env: dict[str, str], url: str) -> str:
    settings = Settings.from_env(env)
    if settings.metrics_port is None:
        return f"{url}/metrics"
    base = settings.metrics_port
    return (f"{url}/metrics (API); processor :{base}, views :{base + 100}, "
            f"timers :{base + 200} /metrics")  # fmt: skip


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    if args.port is None:
        args.port = settings.http_port
    env = _demo_env(args, settings)
    url = f"http://127.0.0.1:{args.port}"
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    steps = Steps(env, log_dir)
    children = Settings.from_env(env)  # what the children will read
    topics = children.topics
    console.rule("piecework demo")
    console.print(f"logs: {log_dir}/ (demo.log, serve.log, <role>.log)", soft_wrap=True)
    with step("starting Kafka and Redis") as said:
        steps.run("up")
        said["done"] = f"stack up: Kafka {children.kafka}, Redis {children.redis}"
    serve_log = log_dir / "serve.log"
    with serve_log.open("ab") as out:
        # Its own session: with --keep it outlives the demo and the terminal's hang-up.
        serve = subprocess.Popen([sys.executable, "-m", "deploy.cli", "serve"], env=env,
                                 stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)  # fmt: skip
    keep = False
    try:
        with step("starting piecework serve") as said:
            _wait_healthy(url, serve, serve_log)
            said["done"] = f"serving {url} (topics {topics.prefix}.*)"
        console.print(f"simulating {args.duration:.0f} s at {args.clock_speed:g}x "
                      f"({args.duration * args.clock_speed / 3600:.1f} marketplace hours)")
        summary_file = log_dir / "simulation.json"
        steps.run("simulate", "--url", url, "--seed", str(args.seed), "--duration",
                  str(args.duration), "--requesters", str(args.requesters), "--workers",
                  str(args.workers), "--clock-speed", str(args.clock_speed),
                  "--summary", str(summary_file), stderr=None)  # fmt: skip
        simulated = json.loads(summary_file.read_text())
        console.print(simulation_line(simulated), soft_wrap=True)
        for line in split_lines(simulated):  # informed workers against the others
            console.print(f"  {line}", soft_wrap=True, markup=False)
        console.print("  [dim](before/after, same seed: `piecework simulate "
                      "--compare-informed`, docs/SIMULATION.md)[/]", soft_wrap=True)
        with step("waiting for the views to catch up with the log") as said:
            steps.run("lag", "--wait", "60")
            said["done"] = "views caught up with the log"
        console.rule("power report")
        steps.run("report", "--html", str(args.html), stdout=None)
        with step("auditing: replay the log, rebuild every view, check every invariant"
                  ) as said:  # fmt: skip
            audit_file = log_dir / "audit.json"
            with audit_file.open("wb") as out:
                audited = steps.run("audit", "--json", check=False, stdout=out)
            report = json.loads(audit_file.read_text() or "{}")
            said["done"] = "audit " + (audit_line(report) if report else
                                       f"[red]failed[/] (status {audited}): see {steps.log}")
        keep = args.keep
    finally:
        if not keep:
            serve.terminate()
            try:
                serve.wait(timeout=30)
            except subprocess.TimeoutExpired:
                serve.kill()
    console.rule("open")
    console.print(f"report   {args.html.resolve()}", soft_wrap=True)
    console.print(f"audit    {'OK' if report.get('ok') else 'FAILED'}: "
                  f"{audit_file} (`piecework audit` for the tables)", soft_wrap=True)
    if keep:
        console.print(f"metrics  {_metrics_urls(env, url)}", soft_wrap=True)
        console.print(f"serve    still running (pid {serve.pid}): `kill {serve.pid}` stops it")
    else:
        console.print(f"metrics  {_metrics_urls(env, url)} [dim](while serve runs: "
                      "`piecework demo --keep` leaves it running)[/]", soft_wrap=True)
    console.print(f"logs     {log_dir}/", soft_wrap=True)
    return audited
