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

from deploy.policy import policy_for
from runtime.metrics_server import start_role_metrics
from runtime.settings import Settings

ROLES = ("processor", "api", "views", "timers", "webhooks")


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run", help="run one piecework process role in the foreground")
    run.add_argument("role", choices=ROLES)
    run.add_argument("--instance", default="0", help="processor instance id (transactional id)")
    run.set_defaults(func=run_role)

    serve = subparsers.add_parser(
        "serve", help="run the processor, API, views, timers and webhooks")
    serve.add_argument("--processes", type=int, default=1, help="processor and view instances")
    serve.set_defaults(func=serve_all)


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _deployment_metrics(settings: Settings) -> None:
    """What must exist once per deployment, carried by the timer role's /metrics: the
    power gauges (against the policy's wage floors) and the consumer-lag poller."""
    from prometheus_client import REGISTRY

    from consumers.power.collector import PowerCollector
    from consumers.stores.redis_store import RedisStore
    from runtime.consumer_lag import start_lag_poller
    from schemas.commands import TaskSpec

    floors = policy_for(settings).wage_floors
    # A pinned list is always reported; by default a currency appears once money moves.
    pinned = settings.power_currencies
    REGISTRY.register(PowerCollector(
        RedisStore.from_url(settings.redis),
        {c: floor for c, floor in floors.items() if not pinned or c in pinned},
        auto_approve_seconds=int(TaskSpec.__dataclass_fields__["auto_approve_seconds"].default),
        top_k=settings.power_top_k,
        pinned=pinned,
    ))
    start_lag_poller(settings)


def run_role(args: argparse.Namespace, settings: Settings) -> int:
    _logging(settings)
    served = start_role_metrics(args.role, args.instance, settings)
    if args.role == "timers" and served is not None:
        _deployment_metrics(settings)
    if args.role == "processor":
        from broker.processor.service import CommandProcessor

        policy = policy_for(settings)
        CommandProcessor(settings, policy, settings.clock(), args.instance).run(_stop_on_signals())
    elif args.role == "api":
        from broker.api.app import live_services, make_app
        from broker.api.protocol import serve

        app = make_app(live_services(settings, policy_for(settings)), settings.max_body_bytes)
        serve(app, settings.http_host, settings.http_port)  # run_app, with HTTP errors in JSON
    elif args.role == "views":
        from consumers.engine.worker import run_views

        run_views(settings, args.instance)
    elif args.role == "timers":
        from consumers.timers.timer import run_timers

        run_timers(settings, _stop_on_signals())
    elif args.role == "webhooks":
        from deploy.webhooks import run_webhooks

        run_webhooks(settings, args.instance)
    return 0


def _spawn(role: str, instance: str, env: dict[str, str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "deploy.cli", "run", role, "--instance", instance]
    return subprocess.Popen(cmd, env=env, start_new_session=True)


def serve_all(args: argparse.Namespace, settings: Settings) -> int:
    """Start every role; restart any child that dies (a crash costs a rebuild, not data)."""
    _logging(settings)
    from deploy.topics import ensure_topics

    ensure_topics(settings.kafka, settings.partitions, settings.topics)
    # Every child, restarted ones too, reads the same virtual instant (runtime.clock).
    origin = settings.clock_origin_ms or time.time_ns() // 1_000_000
    env = {**os.environ, "PIECEWORK_CLOCK_ORIGIN_MS": str(origin)}
    wanted = [("processor", str(i)) for i in range(args.processes)]
    wanted += [("views", str(i)) for i in range(args.processes)]
    wanted += [("api", "0"), ("timers", "0"), ("webhooks", "0")]
    children = {spec: _spawn(*spec, env) for spec in wanted}
    stop = _stop_on_signals()
    log = logging.getLogger("piecework.serve")
    log.info("serving on http://127.0.0.1:%s (%s)", settings.http_port, ", ".join(
        f"{role}-{i}:{p.pid}" for (role, i), p in children.items()))
    while not stop.wait(0.5):
        for spec, child in list(children.items()):
            if child.poll() is not None:
                log.warning("%s-%s exited with %s; restarting", *spec, child.returncode)
                children[spec] = _spawn(*spec, env)
    for child in children.values():
        child.terminate()
    for child in children.values():
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
    return 0
