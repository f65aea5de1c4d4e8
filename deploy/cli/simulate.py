"""`piecework simulate`: drive a seeded marketplace through the API and summarise it."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from runtime.settings import Settings

if TYPE_CHECKING:
    from deploy.simulation.summary import Summary

DEFAULT_INFORMED_SHARE = 0.5
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
    p.add_argument("--seed", type=int, default=7, help="the same seed plays the same "
                   "marketplace (default 7)")  # fmt: skip
    p.add_argument("--duration", type=float, default=120.0, help="wall-clock seconds")
    p.add_argument("--requesters", type=int, default=6, help="requesters (default 6)")
    p.add_argument("--workers", type=int, default=40, help="workers (default 40)")
    p.add_argument("--clock-speed", type=float,
                   help="must equal the stack's PIECEWORK_CLOCK_SPEED (default: that variable)")
    p.add_argument("--load", type=float, default=1.0,
                   help="work posted over what the workers could do in the run")
    p.add_argument("--informed-share", type=_share, default=DEFAULT_INFORMED_SHARE,
                   help="share of the workers who choose task groups by the requesters' "
                   "scorecards and avoid flagged requesters (default 0.5; 0: none)")
    p.add_argument("--compare-informed", action="store_true",
                   help="run the same seed twice on the stack, with no informed workers "
                   "and then with --informed-share, and print them side by side "
                   "(twice --duration)")
    p.add_argument("--run-id", default=None,
                   help="actor id prefix (default: random, so reruns never collide)")
    p.add_argument("--json", action="store_true", help="print a JSON summary, no progress")
    p.add_argument("--summary", type=Path, metavar="FILE",
                   help="also write the JSON summary to FILE")
    p.set_defaults(func=cmd_simulate)


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"a share is between 0 and 1, got {text}")
    return value


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
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
    if args.compare_informed:
        return _compare(args, run_id, err)
    report = _run(args, run_id, args.informed_share, err)
    if report is None:
        return EXIT_SETUP
    if args.summary:
        args.summary.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        from deploy.simulation.compare import split_lines

        out = Console()
        out.print(_table(report))
        for line in split_lines(report):  # informed workers against the others
            out.print(line, soft_wrap=True, markup=False)
    return _verdict(report, err)


def _run(args: argparse.Namespace, run_id: str, share: float, err: Console,
         isolated: bool = False) -> dict[str, Any] | None:  # fmt: skip
    """One simulation; its report, or None if the marketplace could not be set up.
    `isolated`: its tasks need a qualification only its workers hold (docs/SIMULATION.md)."""
    from deploy.simulation.driver import SetupError, simulate
    from deploy.simulation.plan import make_plan
    from deploy.simulation.summary import Summary

    plan = make_plan(args.seed, args.duration * args.clock_speed, args.requesters,
                     args.workers, wall_s=args.duration, load=args.load, prefix=run_id,
                     informed_share=share,
                     run_qualification=f"run-{run_id}" if isolated else None)  # fmt: skip
    summary = Summary(args.seed, args.duration, args.clock_speed, args.requesters, args.workers)
    run = simulate(plan, args.url, args.operator_token, args.clock_speed, args.duration, summary)
    try:
        if args.json:
            asyncio.run(run)
        else:
            asyncio.run(_with_progress(run, summary, plan.tasks, args.duration, err))
    except SetupError as exc:
        err.print(f"[red]{exc}[/]")
        return None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
    return {"run_id": run_id, **summary.to_json()}


def _verdict(report: dict[str, Any], err: Console) -> int:
    if report["error_rate"] > MAX_ERROR_RATE:
        err.print(f"[red]{report['server_errors']} of {report['calls']} calls of run "
                  f"{report['run_id']} failed on the server side "
                  f"({report['error_rate']:.1%} > {MAX_ERROR_RATE:.0%})[/]")
        return EXIT_ERRORS
    return 0


def _compare(args: argparse.Namespace, run_id: str, err: Console) -> int:
    """The same seed without, then with informed workers; each run's tasks only for its
    own workers, so the second never works the first one's leftovers."""
    from deploy.simulation.compare import comparison

    reports = []
    for suffix, share in (("u", 0.0), ("i", args.informed_share)):
        if not args.json:
            err.print(f"run {run_id}-{suffix}: informed share {share:g}")
        report = _run(args, f"{run_id}-{suffix}", share, err, isolated=True)
        if report is None:
            return EXIT_SETUP
        reports.append(report)
    rows = comparison(*reports)
    out = {"before": reports[0], "after": reports[1],
           "comparison": [dict(zip(("figure", "before", "after", "change"), r, strict=True))
                          for r in rows]}  # fmt: skip
    if args.summary:
        args.summary.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        table = Table(title=f"seed {args.seed}: informed share 0 against "
                      f"{args.informed_share:g}", title_justify="left")
        for name, justify in (("figure", "left"), ("share 0", "right"),
                              (f"share {args.informed_share:g}", "right"),
                              ("change", "right")):  # fmt: skip
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for row in rows:
            table.add_row(*row)
        Console().print(table)
    return max(_verdict(r, err) for r in reports)


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
        if key not in ("run_id", "informed"):
            table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    return table
