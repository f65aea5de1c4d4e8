"""`piecework report`: platform power metrics from the live views or from an event export."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from runtime.settings import Settings

if TYPE_CHECKING:
    from consumers.stores.store import Reader

EXIT_INPUT = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report", help="platform power metrics: wages, unpaid time, rejections, concentration",
        description="Effective wages once unpaid time counts, rejection outliers, time to pay, "
        "concentration and fees; definitions in docs/METRICS.md. Reads the live views "
        "(PIECEWORK_REDIS) unless --events is given.")  # fmt: skip
    p.add_argument("--events", type=Path, metavar="FILE",
                   help="a JSON-lines export (`piecework export`, - for stdin), folded in memory")
    p.add_argument("--currency", default="EUR")
    p.add_argument("--floor", metavar="AMOUNT",
                   help="wage floor per hour, e.g. 7.25 (default: the policy's for the currency)")
    p.add_argument("--top", type=int, default=10, help="requesters listed (default 10)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--html", type=Path, metavar="FILE", help="also write an HTML report")
    p.set_defaults(func=cmd_report)  # fmt: skip


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from consumers.power.figures import summarize
    from consumers.power.snapshot import collect
    from deploy.policy import policy_for
    from schemas.errors import SchemaError
    from schemas.money import CURRENCIES, parse_amount

    err = Console(stderr=True)
    if args.currency not in CURRENCIES:
        known = ", ".join(sorted(CURRENCIES))
        err.print(f"[red]unknown currency {args.currency}[/] (one of {known})")
        return EXIT_INPUT
    try:
        floor = (parse_amount(args.floor) if args.floor
                 else policy_for(settings).wage_floors.get(args.currency))  # fmt: skip
    except ValueError as exc:
        err.print(f"[red]--floor: {exc}[/]")
        return EXIT_INPUT
    if floor is None:
        err.print(f"[red]the policy has no wage floor for {args.currency}[/]; pass --floor")
        return EXIT_INPUT
    try:
        reader, source = _reader(args.events, settings.redis)
        data = collect(reader, args.currency)
    except (OSError, SchemaError) as exc:
        err.print(f"[red]{exc}[/]")
        return EXIT_INPUT
    report = summarize(data, floor, args.top)
    if args.html:
        from consumers.power.report.html import render_html

        generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        args.html.write_text(render_html(report, data, source, generated), encoding="utf-8")
        err.print(f"wrote {args.html}")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        from consumers.power.report.table import render_tables

        Console().print(render_tables(report))
    return 0


def _reader(events: Path | None, redis_url: str) -> tuple[Reader, str]:
    """(reader, description): a replay of the file, or the live Redis views."""
    if events is not None:
        from consumers.engine.runner import fold_log
        from consumers.views import power
        from schemas.jsonform import read_lines

        views = {power.VIEW: power.project}
        if str(events) == "-":
            return fold_log(read_lines(sys.stdin), views=views), "replay of stdin"
        with events.open(encoding="utf-8") as lines:
            return fold_log(read_lines(lines), views=views), f"replay of {events}"
    import redis

    from consumers.stores.redis_store import RedisStore

    store = RedisStore.from_url(redis_url)
    try:
        store.client.ping()
    except redis.RedisError as exc:
        raise OSError(f"no view store at {redis_url} ({exc}); run `piecework up` "
                      "or pass --events FILE") from exc  # fmt: skip
    return store, f"live views at {redis_url}"


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (`python -m deploy.cli.report`): `piecework report` by another name."""
    from deploy.cli import main as piecework

    return piecework(["report", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
