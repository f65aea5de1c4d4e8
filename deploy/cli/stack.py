"""`piecework up | down | status`: the local Kafka + Redis stack, one command from anywhere."""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence

from kafka.errors import KafkaError
from rich.console import Console
from rich.table import Table

from deploy import settings as stack_settings
from deploy import stack
from deploy.role_status import RoleState, role_states
from deploy.topics import ensure_topics
from runtime.settings import MAX_BROKERS, Settings

console = Console()
EXIT_NOT_RUNNING = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    for name, func, text in (
        ("up", cmd_up, "start Kafka and Redis if they are not running (idempotent)"),
        ("down", cmd_down, "stop the Kafka and Redis processes `up` started"),
        ("status", cmd_status, "show Kafka, Redis and every role with its state and lag;"
         " exit 3 unless Kafka and Redis are up"),
    ):
        parser = subparsers.add_parser(name, help=text, description=text)
        parser.set_defaults(func=func)
        if name == "up":
            parser.add_argument(
                "--brokers", type=int, choices=range(1, MAX_BROKERS + 1),
                metavar="N", default=None,
                help="Kafka nodes (broker+controller each); 3 gives replication 3, min ISR 2. "
                "Default: PIECEWORK_BROKERS, else what the data dir holds, else 1",
            )


def _settings(settings: Settings, brokers: int | None = None) -> stack_settings.StackSettings:
    cfg = stack_settings.for_settings(settings)
    if brokers is not None:
        cfg = dataclasses.replace(cfg, brokers=brokers)
    return stack.resolve(cfg)


def _table(states: Sequence[stack.ServiceState], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("service", "address", "state", "pid", "detail"):
        table.add_column(column, overflow="fold")  # addresses stay whole, to copy and paste
    for st in states:
        table.add_row(
            st.name,
            st.address,
            "[green]up[/]" if st.up else "[red]down[/]",
            str(st.pid) if st.pid else "-",
            st.action,
        )
    return table


def _logs(states: Sequence[stack.ServiceState]) -> None:
    for st in states:
        if st.ours:
            console.print(f"{st.name} logs: " + ", ".join(str(p) for p in st.logs))


def _roles_table(roles: Sequence[RoleState]) -> Table:
    table = Table(title="piecework roles (`piecework serve`)", title_justify="left")
    for column in ("role", "instance", "metrics at", "state", "lag (records)"):
        table.add_column(column, overflow="fold")
    for r in roles:
        colour = "green" if r.state in ("up", "ready") else "red"
        table.add_row(r.role, r.instance, r.address, f"[{colour}]{r.state}[/]",
                      "-" if r.lag is None else str(r.lag))  # fmt: skip
    return table


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    began = time.monotonic()
    try:
        cfg = _settings(settings, args.brokers)
        states = stack.up(cfg)
        ours = any(st.ours and st.name.startswith("kafka") for st in states)
        bootstrap = cfg.cluster_bootstrap if ours else cfg.kafka_bootstrap
        topics = ensure_topics(bootstrap, cfg.partitions, settings.topics)
    except (RuntimeError, ValueError, KafkaError) as exc:
        console.print(f"[red]piecework up failed:[/] {exc}")
        return 1
    console.print(_table(states, "piecework stack"))
    console.print("topics: " + ", ".join(f"{n} ({p}p)" for n, p in topics.partitions.items()))
    for name, changed in topics.corrected.items():
        fixed = ", ".join(f"{key} {old} -> {new}" for key, (old, new) in changed.items())
        console.print(f"[yellow]corrected {name}:[/] {fixed}")
    console.print(f"PIECEWORK_KAFKA={bootstrap}  PIECEWORK_REDIS={cfg.redis_url}")
    console.print(f"data dir: {cfg.data_dir}")
    _logs(states)
    console.print(f"up in {time.monotonic() - began:.1f}s")
    return 0


def cmd_down(args: argparse.Namespace, settings: Settings) -> int:
    began = time.monotonic()
    states = stack.down(_settings(settings))
    console.print(_table(states, "piecework stack"))
    console.print(f"down in {time.monotonic() - began:.1f}s")
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    cfg = _settings(settings)
    states = stack.status(cfg)
    console.print(_table(states, f"piecework stack (data dir {cfg.data_dir})"))
    _logs(states)
    console.print(_roles_table(role_states(settings)))
    return 0 if all(st.up for st in states) else EXIT_NOT_RUNNING
