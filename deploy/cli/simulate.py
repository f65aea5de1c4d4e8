"""`piecework simulate`: drive a seeded marketplace through the API and summarise it."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from runtime.settings import Settings

if TYPE_CHECKING:
    from deploy.simulation.summary import Summary

MAX_ERROR_RATE = 0.05  # more 5xx (or unanswered calls) than this is a failed run
EXIT_SETUP, EXIT_ERRORS = 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "simulate", help="drive a seeded micro-work marketplace through the API",
        description="Requesters, workers and an operator, all through the public API. "
        "Run the stack with a fast clock (PIECEWORK_CLOCK_SPEED=600) to see reviews, "
        "auto-approvals and payouts within minutes; see docs/SIMULATION.md.")
    p.add_argument("--url", help="the API (default: $PIECEWORK_URL, else "
                   "http://127.0.0.1:$PIECEWORK_HTTP_PORT)")
    p.add_argument("--operator-token", help="default: $PIECEWORK_OPERATOR_TOKEN")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--duration", type=float, default=120.0, help="wall-clock seconds")
    p.add_argument("--requesters", type=int, default=6)
    p.add_argument("--workers", type=int, default=40)
    p.add_argument("--clock-speed", type=float,
                   help="must equal the stack's PIECEWORK_CLOCK_SPEED (default: that variable)")
    p.add_argument("--load", type=float, default=1.0,
                   help="work posted over what the workers could do in the run")
    p.add_argument("--run-id", default=None,
                   help="actor id prefix (default: random, so reruns never collide)")
    p.add_argument("--json", action="store_true", help="print a JSON summary, no progress")
    p.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from deploy.simulation.driver import SetupError, simulate
    from deploy.simulation.plan import make_plan
    from deploy.simulation.summary import Summary

    args.url = args.url or settings.api_url
    args.operator_token = args.operator_token or settings.operator_token
    if args.clock_speed is None:
        args.clock_speed = settings.clock_speed
    err = Console(stderr=True)
    if not args.operator_token:
        err.print("[red]an operator token is needed[/] (--operator-token or "
                  "PIECEWORK_OPERATOR_TOKEN)")
        return EXIT_SETUP
    run_id = args.run_id or f"s{args.seed}-{secrets.token_hex(3)}"
    plan = make_plan(args.seed, args.duration * args.clock_speed, args.requesters,
                     args.workers, wall_s=args.duration, load=args.load, prefix=run_id)
    summary = Summary(args.seed, args.duration, args.clock_speed, args.requesters, args.workers)
    run = simulate(plan, args.url, args.operator_token, args.clock_speed, args.duration, summary)
    try:
        if args.json:
            asyncio.run(run)
        else:
            asyncio.run(_with_progress(run, summary, plan.tasks, args.duration, err))
    except SetupError as exc:
        err.print(f"[red]{exc}[/]")
        return EXIT_SETUP
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
    report = {"run_id": run_id, **summary.to_json()}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        Console().print(_table(report))
    if summary.error_rate > MAX_ERROR_RATE:
        err.print(f"[red]{summary.server_errors} of {summary.calls} calls failed on the "
                  f"server side ({summary.error_rate:.1%} > {MAX_ERROR_RATE:.0%})[/]")
        return EXIT_ERRORS
    return 0


async def _with_progress(run: Coroutine[Any, Any, Summary], summary: Summary,
                         planned_tasks: int, duration: float, console: Console) -> None:
    columns = (TextColumn("{task.description:<13}"), BarColumn(),
               TextColumn("{task.completed:>9.0f}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        bars = {
            "clock": progress.add_task("seconds", total=duration),
            "posted": progress.add_task("tasks posted", total=planned_tasks or None),
            "claims": progress.add_task("claims", total=None),
            "reviews": progress.add_task("reviews", total=None),
        }
        loop = asyncio.get_running_loop()
        began = loop.time()
        main = asyncio.ensure_future(run)
        while not main.done():
            progress.update(bars["clock"], completed=min(duration, loop.time() - began))
            progress.update(bars["posted"], completed=summary.tasks_posted)
            progress.update(bars["claims"], completed=summary.claims)
            progress.update(bars["reviews"], completed=summary.reviews)
            await asyncio.wait({main}, timeout=0.25)
        main.result()


def _table(report: dict[str, Any]) -> Table:
    table = Table(title=f"simulation {report['run_id']}", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in report.items():
        if key != "run_id":
            table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    return table
