"""`piecework batches`, `piecework batch BATCH`, `piecework results BATCH [--csv] [-o FILE]`:
the caller's batches, one batch's progress, and its results export (streamed to a file)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from broker.client import Client
from deploy.cli.client_commands import (
    _client_args,
    _common,
    first_rows,
    page_size,
    run_client,
)

STATUSES = ("open", "claimed", "submitted", "approved", "rejected", "expired", "cancelled")


def register(subparsers: argparse._SubParsersAction) -> None:
    batches = subparsers.add_parser("batches", help="the caller's batches, newest first")
    batches.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    batches.add_argument("--requester-id", help="whose batches (operators)")
    batches.add_argument("--json", action="store_true", help="one JSON object per line")
    _common(batches)
    batches.set_defaults(func=lambda a, s: run_client("batches", list_batches(_client_args(a, s))))

    batch = subparsers.add_parser("batch", help="one batch's progress: tasks per status, money")
    batch.add_argument("batch_id", help="the batch id given when posting")
    batch.add_argument("--requester-id", help="whose batch (operators)")
    batch.add_argument("--json", action="store_true", help="the raw answer, as JSON")
    _common(batch)
    batch.set_defaults(func=lambda a, s: run_client("batch", show_batch(_client_args(a, s))))

    results = subparsers.add_parser("results", help="a batch's submissions with their answers")
    results.add_argument("batch_id", help="the batch id given when posting")
    results.add_argument("--csv", action="store_true", help="CSV with a header row (default: "
                         "JSON lines)")  # fmt: skip
    results.add_argument("-o", "--output", type=Path, help="write to FILE (default: stdout)")
    results.add_argument("--requester-id", help="whose batch (operators)")
    _common(results)
    results.set_defaults(
        func=lambda a, s: run_client("results", export_results(_client_args(a, s))))


async def list_batches(args: argparse.Namespace) -> int:
    async with Client(args.url, args.token) as client:
        rows = await first_rows(client.batches(limit=page_size(args.limit),
                                               requester_id=args.requester_id), args.limit)
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    table = Table("batch", "posted_at", "tasks", "submissions", "approved", "rejected",
                  "escrow", "spend")
    for r in rows:
        table.add_row(r["batch_id"], str(r.get("posted_at", "")), str(r["tasks"]),
                      str(r["submissions"]), str(r["approved"]), str(r["rejected"]),
                      str(r["escrow"]), str(r["spend"]))  # fmt: skip
    Console().print(table)
    return 0


async def show_batch(args: argparse.Namespace) -> int:
    async with Client(args.url, args.token) as client:
        found = await client.batch(args.batch_id, requester_id=args.requester_id)
    if args.json:
        print(json.dumps(found))
        return 0
    print(f"batch {found['batch_id']}: {found['tasks']} tasks in {found['chunks']} chunk(s)")
    print("  " + ", ".join(f"{s} {found['status_counts'][s]}" for s in STATUSES))
    print(f"  submissions {found['submissions']}, approved {found['approved']}, rejected "
          f"{found['rejected']}, overturned {found['overturned']}")  # fmt: skip
    print(f"  escrow {found['escrow']}, spend {found['spend']} "
          f"(micro-units of {found.get('currency', '?')})")  # fmt: skip
    return 0


async def export_results(args: argparse.Namespace) -> int:
    fmt = "csv" if args.csv else "jsonl"
    try:
        out = args.output.open("wb") if args.output else sys.stdout.buffer
    except OSError as exc:
        print(f"piecework results: {args.output}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        async with Client(args.url, args.token) as client:
            async for chunk in client.results(args.batch_id, fmt, requester_id=args.requester_id):
                out.write(chunk)
    finally:
        if args.output:
            out.close()
        else:
            out.flush()
    return 0
