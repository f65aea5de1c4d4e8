"""Client-side subcommands over the HTTP API: post tasks, read ledgers, create actors."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from broker.client import ApiError, Client
from runtime.settings import Settings
from schemas.money import format_amount

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


def register(subparsers: argparse._SubParsersAction) -> None:
    post = subparsers.add_parser("post", help="stream tasks from a JSON-lines file")
    post.add_argument("file", type=Path, help="one TaskSpec JSON object per line ('-': stdin)")
    post.add_argument("--batch-id", help="batch id prefix (default: the file name)")
    post.add_argument("--batch-size", type=int, default=1_000)
    post.add_argument("--concurrency", type=int, default=4)
    _common(post)
    post.set_defaults(func=lambda a, s: asyncio.run(post_file(_client_args(a, s))))

    ledger = subparsers.add_parser("ledger", help="balances of the caller (or the platform)")
    ledger.add_argument("--platform", action="store_true", help="platform totals (operators)")
    ledger.add_argument("--json", action="store_true")
    _common(ledger)
    ledger.set_defaults(func=lambda a, s: asyncio.run(show_ledger(_client_args(a, s))))

    actor = subparsers.add_parser("actor", help="create a requester, worker or operator")
    actor.add_argument("actor_id")
    actor.add_argument("role", choices=("requester", "worker", "operator"))
    actor.add_argument("--qualification", action="append", default=[])
    _common(actor)
    actor.set_defaults(func=lambda a, s: asyncio.run(create_actor(_client_args(a, s))))


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
    total = None if str(args.file) == "-" else sum(1 for _ in _lines(args.file))
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

            chunks = _chunks(_lines(args.file), args.batch_size)
            await asyncio.gather(*(send(k, c) for k, c in enumerate(chunks)))
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


def _chunks(items: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


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
