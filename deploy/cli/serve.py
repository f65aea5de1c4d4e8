"""`piecework run ROLE` runs one process role; `piecework serve` supervises all of them."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time

from runtime.config import Settings, policy_from_env
from runtime.metrics_server import start_role_metrics

ROLES = ("processor", "api", "views", "timers")


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run", help="run one piecework process role in the foreground")
    run.add_argument("role", choices=ROLES)
    run.add_argument("--instance", default="0", help="processor instance id (transactional id)")
    run.set_defaults(func=run_role)

    serve = subparsers.add_parser("serve", help="run the processor, API, views and timers")
    serve.add_argument("--processes", type=int, default=1, help="processor and view instances")
    serve.set_defaults(func=serve_all)


def _logging() -> None:
    logging.basicConfig(
        level=os.environ.get("PIECEWORK_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def run_role(args: argparse.Namespace) -> int:
    _logging()
    settings = Settings.from_env()
    start_role_metrics(args.role, args.instance, settings)
    if args.role == "processor":
        from broker.processor.service import CommandProcessor

        processor = CommandProcessor(settings, policy_from_env(), settings.clock(), args.instance)
        processor.run(_stop_on_signals())
    elif args.role == "api":
        from broker.api.app import live_services, make_app
        from broker.api.protocol import serve

        app = make_app(live_services(settings, policy_from_env()))
        host = os.environ.get("PIECEWORK_HTTP_HOST", "127.0.0.1")
        serve(app, host, settings.http_port)  # run_app, but HTTP-level errors in JSON too
    elif args.role == "views":
        from consumers.engine.worker import run_views

        run_views(settings, args.instance)
    elif args.role == "timers":
        from consumers.timers.timer import run_timers

        run_timers(settings, _stop_on_signals())
    return 0


def _spawn(role: str, instance: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "deploy.cli", "run", role, "--instance", instance]
    return subprocess.Popen(cmd, start_new_session=True)


def serve_all(args: argparse.Namespace) -> int:
    """Start every role; restart any child that dies (a crash costs a rebuild, not data)."""
    _logging()
    from deploy.topics import ensure_topics

    settings = Settings.from_env()
    ensure_topics(settings.kafka, settings.partitions, settings.topics)
    os.environ.setdefault("PIECEWORK_CLOCK_ORIGIN_MS", str(time.time_ns() // 1_000_000))
    wanted = [("processor", str(i)) for i in range(args.processes)]
    wanted += [("views", str(i)) for i in range(args.processes)]
    wanted += [("api", "0"), ("timers", "0")]
    children = {spec: _spawn(*spec) for spec in wanted}
    stop = _stop_on_signals()
    log = logging.getLogger("piecework.serve")
    log.info("serving on http://127.0.0.1:%s (%s)", settings.http_port, ", ".join(
        f"{role}-{i}:{p.pid}" for (role, i), p in children.items()))
    while not stop.wait(0.5):
        for spec, child in list(children.items()):
            if child.poll() is not None:
                log.warning("%s-%s exited with %s; restarting", *spec, child.returncode)
                children[spec] = _spawn(*spec)
    for child in children.values():
        child.terminate()
    for child in children.values():
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
    return 0
