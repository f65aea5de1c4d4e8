"""Client-side subcommands over the HTTP API: post tasks, deposit, read ledgers, create
actors; and what every client subcommand shares (--url, --token, one-line errors)."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from broker.client import ApiError, Client
from runtime.settings import Settings
from schemas.money import format_amount, parse_amount

console = Console(stderr=True)


def _common(parser: argparse.ArgumentParser) -> None:
    # Defaults from the settings, filled in by `_client_args` once they are read.
    parser.add_argument(
        "--url", help="the API (default: $PIECEWORK_URL, else http://127.0.0.1:$PIECEWORK_HTTP_PORT)"
    )
    parser.add_argument("--token", help="API token (default: $PIECEWORK_TOKEN)")


def _client_args(args: argparse.Namespace, settings: Settings) -> argparse.Namespace:
    """args with --url and --token defaulted from the settings."""
    args.url = args.url or settings.api_url
    args.token = args.token or settings.token
    return args


def run_client(command: str, work: Coroutine[Any, Any, int]) -> int:
    """Run `work`. A refusal or an unreachable API propagates to deploy.cli.main, which
    tells it in one line with a hint (deploy.cli.errors), exit 1."""
    return asyncio.run(work)


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high], else a usage error naming the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {low}-{high}, got {value}")
        return value

    return parse


def page_size(limit: int) -> int:
    """The page a listing asks the API for, to show `limit` rows (the API serves 1-1000)."""
    return min(max(limit, 1), 1000)


async def first_rows(rows: AsyncIterator[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The first `limit` rows of a paged listing, reading no page past them."""
    found: list[dict[str, Any]] = []
    async for row in rows:
        found.append(row)
        if len(found) >= limit:
            break
    return found


def register(subparsers: argparse._SubParsersAction) -> None:
    post = subparsers.add_parser(
        "post", help="stream tasks from a JSON-lines file",
        description="Post the tasks of a JSON-lines file, --batch-size at a time, as batches "
        "named <batch id>-0, -1, ...; posting the same file again posts nothing twice. The "
        "file is streamed: memory stays bounded (about --concurrency x --batch-size tasks) "
        "whatever its size.")  # fmt: skip
    post.add_argument("file", type=Path, help="one TaskSpec JSON object per line ('-': stdin)")
    post.add_argument("--batch-id", help="batch id prefix (default: the file name)")
    post.add_argument("--batch-size", type=bounded_int(1, 10_000), default=1_000,
                      help="tasks per batch request, 1-10000 (default 1000)")  # fmt: skip
    post.add_argument("--concurrency", type=bounded_int(1, 64), default=4,
                      help="batch requests in flight at once, 1-64 (default 4)")  # fmt: skip
    _common(post)
    post.set_defaults(func=lambda a, s: run_client("post", post_file(_client_args(a, s))))

    deposit = subparsers.add_parser(
        "deposit", help="add funds to the caller's requester account",
        description="Add funds to the caller's account. AMOUNT is in micro-units (millionths "
        "of the currency), as the API counts money: 50000000 EUR is 50 euros. With --units, "
        "AMOUNT is in whole units instead, with up to 6 decimals: 50.00 EUR.")  # fmt: skip
    deposit.add_argument("amount", metavar="AMOUNT",
                         help="micro-units, an integer (or whole units with --units)")
    deposit.add_argument("currency", metavar="CURRENCY", type=str.upper,
                         help="EUR, USD or GBP")  # fmt: skip
    deposit.add_argument("--units", action="store_true",
                         help="AMOUNT is in whole currency units, e.g. 50.00")
    deposit.add_argument("--idempotency-key", metavar="KEY",
                         help="run the command again with the same KEY and it deposits once")
    _common(deposit)
    deposit.set_defaults(func=run_deposit)

    ledger = subparsers.add_parser("ledger", help="balances of the caller (or the platform)")
    ledger.add_argument("--platform", action="store_true", help="platform totals (operators)")
    ledger.add_argument("--json", action="store_true", help="the raw answer, as JSON")
    _common(ledger)
    ledger.set_defaults(func=lambda a, s: run_client("ledger", show_ledger(_client_args(a, s))))

    actor = subparsers.add_parser("actor", help="create a requester, worker or operator")
    actor.add_argument("actor_id", help="the new actor's id")
    actor.add_argument("role", choices=("requester", "worker", "operator"), help="its role")
    actor.add_argument("--qualification", action="append", default=[],
                       help="a worker's qualification (repeat for several)")  # fmt: skip
    _common(actor)
    actor.set_defaults(func=lambda a, s: run_client("actor", create_actor(_client_args(a, s))))


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    handle = sys.stdin if str(path) == "-" else path.open(encoding="utf-8")
    with handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise SystemExit(f"{path}:{number}: not JSON: {exc}") from exc


async def post_file(args: argparse.Namespace) -> int:
    prefix = args.batch_id or args.file.stem.replace(" ", "_")[:32]
    total = None if str(args.file) == "-" else _count_lines(args.file)
    posted = existing = refused = 0
    started = time.perf_counter()
    limiter = asyncio.Semaphore(args.concurrency)
    columns = (TextColumn("posting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    async with Client(args.url, args.token) as client:
        with Progress(*columns, console=console) as progress:
            bar = progress.add_task("post", total=total)

            async def send(k: int, chunk: list[dict[str, Any]]) -> None:
                nonlocal posted, existing, refused
                async with limiter:
                    try:
                        result = await client.post_batch(f"{prefix}-{k}", chunk)
                        # a batch posted by an earlier run of the same file is not posted again
                        posted += result["posted"]
                        existing += result["existing"]
                        refused += len(chunk) - len(result["task_ids"])
                    except ApiError as exc:
                        refused += len(chunk)
                        console.print(f"[red]batch {prefix}-{k}: {exc}")
                progress.advance(bar, len(chunk))

            # Read a chunk only when a request slot is free: at most `concurrency` chunks
            # in memory, whatever the file's size (gathering them all held the whole file).
            in_flight: set[asyncio.Task[None]] = set()
            for k, chunk in enumerate(_chunks(_lines(args.file), args.batch_size)):
                if len(in_flight) >= args.concurrency:
                    done, in_flight = await asyncio.wait(
                        in_flight, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        task.result()  # an unreachable API ends the run here
                in_flight.add(asyncio.create_task(send(k, chunk)))
            await asyncio.gather(*in_flight)
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "posted": posted,
                "existing": existing,
                "refused": refused,
                "seconds": round(elapsed, 3),
                "tasks_per_second": round(posted / elapsed, 1) if elapsed else None,
            }
        )
    )
    return 0 if refused == 0 else 1


def _count_lines(path: Path) -> int:
    """Non-blank lines, for the progress bar: read in blocks, not parsed."""
    with path.open(encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def _chunks(items: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def micro_units(amount: str, units: bool) -> int:
    """AMOUNT as the API counts it; ValueError says, in one line, why it is not one."""
    if units:
        return parse_amount(amount)
    if not amount.isascii() or not amount.isdigit():
        raise ValueError(f"{amount!r} is not a whole number of micro-units; for whole "
                         f"currency units (e.g. 50.00), add --units")  # fmt: skip
    return int(amount)


def run_deposit(args: argparse.Namespace, settings: Settings) -> int:
    try:
        amount = micro_units(args.amount, args.units)
    except ValueError as exc:
        print(f"piecework deposit: {exc}", file=sys.stderr)
        return 2
    return run_client("deposit", deposit_funds(_client_args(args, settings), amount))


async def deposit_funds(args: argparse.Namespace, amount: int) -> int:
    async with Client(args.url, args.token) as client:
        answer = await client.deposit(amount, args.currency,
                                      idempotency_key=args.idempotency_key)  # fmt: skip
    console.print(f"deposited {format_amount(amount, args.currency)}")
    print(json.dumps(answer))
    return 0


async def show_ledger(args: argparse.Namespace) -> int:
    async with Client(args.url, args.token) as client:
        data = await client.get("/v1/platform/ledger" if args.platform else "/v1/ledger")
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    accounts = data["totals"] if args.platform else data["accounts"]
    table = Table(title="platform ledger" if args.platform else f"ledger of {data['actor_id']}")
    table.add_column("currency")
    table.add_column("field")
    table.add_column("amount", justify="right")
    for currency, fields in accounts.items():
        for name, amount in fields.items():
            table.add_row(
                currency,
                name,
                format_amount(amount, currency)
                if name not in ("negative_accounts",)
                else str(amount),
            )
    Console().print(table)
    for violation in data.get("violations", []):
        console.print(f"[red]{violation}")
    return 1 if data.get("violations") else 0


async def create_actor(args: argparse.Namespace) -> int:
    async with Client(args.url, args.token) as client:
        token = await client.create_actor(args.actor_id, args.role, args.qualification)
    print(json.dumps({"actor_id": args.actor_id, "role": args.role, "token": token}))
    return 0
