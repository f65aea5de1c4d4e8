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
from pathlib import Path
from subprocess import DEVNULL

from deploy import scrape_targets
from deploy.cli.errors import UserError
from deploy.policy import policy_for
from deploy.supervisor import Start, Supervisor
from runtime import event_loop
from runtime.metrics_roles import role_registry
from runtime.metrics_server import start_role_metrics
from runtime.settings import Settings

ROLES = ("processor", "api", "views", "timers", "webhooks")
STACK_WAIT_S = 20.0  # how long serve waits for Kafka and Redis before giving up


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run", help="run one piecework process role in the foreground")
    run.add_argument("role", choices=ROLES, help="which role: " + ", ".join(ROLES))
    run.add_argument("--instance", default="0", help="processor instance id (transactional id)")
    # debug: a role's crash keeps its traceback, in the role's log file (deploy.cli.main)
    run.set_defaults(func=run_role, debug=True)

    serve = subparsers.add_parser(
        "serve", help="run the processor, API, views, timers and webhooks",
        description="Run every process role and keep them running: a role that dies is "
        "restarted after 0.5 s, then 1 s, 2 s, ... up to 30 s while it keeps dying. Each "
        "role logs to its own file, <data dir>/logs/<role>.log (views-1.log for instance "
        "1); this command's terminal gets only the supervisor's lines.")  # fmt: skip
    serve.add_argument("--processes", type=int, default=1, help="processor and view instances")
    serve.add_argument("--log-dir", type=Path, metavar="DIR",
                       help="where the roles' log files go (default: $PIECEWORK_DATA_DIR/"
                       "logs); '-' sends them to this terminal instead")  # fmt: skip
    serve.set_defaults(func=serve_all)


def _logging(settings: Settings, role: str) -> None:
    from runtime.logs import configure

    configure(settings, role)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _deployment_metrics(settings: Settings) -> None:
    """What must exist once per deployment, carried by the timer role's /metrics: the
    power figures (against the policy's wage floors), money owed and overdue reviews,
    and the consumer-lag poller."""
    from consumers.power.backlog import BacklogCollector
    from consumers.power.collector import PowerCollector
    from consumers.stores.redis_store import RedisStore
    from runtime.consumer_lag import start_lag_poller
    from schemas.commands import DEFAULT_AUTO_APPROVE_SECONDS

    floors = policy_for(settings).wage_floors
    # A pinned list is always reported; by default a currency appears once money moves.
    pinned = settings.power_currencies
    role_registry("timers").register(PowerCollector(
        RedisStore.from_url(settings.redis),
        {c: floor for c, floor in floors.items() if not pinned or c in pinned},
        auto_approve_seconds=DEFAULT_AUTO_APPROVE_SECONDS,
        top_k=settings.power_top_k,
        pinned=pinned,
    ))
    clock = settings.clock()
    role_registry("timers").register(BacklogCollector(RedisStore.from_url(settings.redis),
                                                      clock.now_ms))
    start_lag_poller(settings)


def run_role(args: argparse.Namespace, settings: Settings) -> int:
    _logging(settings, f"{args.role}-{args.instance}")
    event_loop.install(settings.event_loop)
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


def log_file(log_dir: Path, role: str, instance: str) -> Path:
    """Instance 0 keeps the plain name (as kafka.log is node 1's): views.log, views-1.log."""
    return log_dir / (f"{role}.log" if instance == "0" else f"{role}-{instance}.log")


def _starter(role: str, instance: str, env: dict[str, str], log_dir: Path | None) -> Start:
    cmd = [sys.executable, "-m", "deploy.cli", "run", role, "--instance", instance]

    def start() -> subprocess.Popen:
        if log_dir is None:
            return subprocess.Popen(cmd, env=env, start_new_session=True)
        # Appended to, so a restarted role's last lines before its crash stay there.
        with open(log_file(log_dir, role, instance), "ab") as out:
            return subprocess.Popen(cmd, env=env, start_new_session=True, stdin=DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT)  # fmt: skip

    return start


def check_stack(settings: Settings, wait_s: float = STACK_WAIT_S) -> None:
    """Kafka and Redis answer within `wait_s` (they may be starting), else UserError: a
    serve without them would only restart its roles forever."""
    import redis

    from deploy.kafka_probe import live_brokers
    from deploy.processes import wait_until
    from deploy.settings import parse_host_port

    addresses = [parse_host_port(a, 9092) for a in settings.kafka.split(",")]
    if not wait_until(lambda: any(live_brokers(h, p, timeout=2.0) for h, p in addresses),
                      wait_s, interval=1.0):  # fmt: skip
        raise UserError(f"no Kafka broker answers at {settings.kafka} (waited {wait_s:.0f} s); "
                        "`piecework up` starts a local one, PIECEWORK_KAFKA names another")
    client = redis.Redis.from_url(settings.redis, socket_timeout=2, socket_connect_timeout=2)

    def pong() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    if not wait_until(pong, wait_s, interval=1.0):
        raise UserError(f"Redis does not answer at {settings.redis} (waited {wait_s:.0f} s); "
                        "`piecework up` starts a local one, PIECEWORK_REDIS names another")


def serve_all(args: argparse.Namespace, settings: Settings) -> int:
    """Start every role; restart any child that dies (a crash costs a rebuild, not data)."""
    _logging(settings, "serve")
    from deploy.topics import ensure_topics

    check_stack(settings)
    ensure_topics(settings.kafka, settings.partitions, settings.topics)
    # Every child, restarted ones too, reads the same virtual instant (runtime.clock).
    origin = settings.clock_origin_ms or time.time_ns() // 1_000_000
    env = {**os.environ, "PIECEWORK_CLOCK_ORIGIN_MS": str(origin)}
    wanted = [("processor", str(i)) for i in range(args.processes)]
    wanted += [("views", str(i)) for i in range(args.processes)]
    wanted += [("api", "0"), ("timers", "0"), ("webhooks", "0")]
    scrape_targets.write(wanted, settings)  # Prometheus scrapes every instance (file_sd)
    log_dir = None if str(args.log_dir) == "-" else (args.log_dir or settings.data_dir / "logs")
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
    log = logging.getLogger("piecework.serve")
    supervisor = Supervisor({f"{role}-{i}": _starter(role, i, env, log_dir)
                             for role, i in wanted}, log=log)  # fmt: skip
    stop = _stop_on_signals()
    supervisor.start_all()
    log.info("serving on http://%s:%s (%s)", settings.http_host, settings.http_port,
             ", ".join(f"{name}:{pid}" for name, pid in supervisor.pids().items()))
    if log_dir is not None:
        log.info("role logs: %s", log_dir / "<role>.log")
    while not stop.wait(0.5):
        supervisor.poll()
    supervisor.stop()
    return 0
