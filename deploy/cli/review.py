"""`piecework review FILE`: approve and reject submissions from a CSV, 1,000 a request."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from broker.client import ApiError, Client, review_items
from deploy.cli.client_commands import _client_args, _common, console, run_client

CHUNK = 1_000  # the most POST /v1/reviews takes
HEADER = ("submission_id", "decision", "reason")


def register(subparsers: argparse._SubParsersAction) -> None:
    review = subparsers.add_parser(
        "review", help="approve or reject submissions from a CSV (submission_id,decision,reason)"
    )
    review.add_argument("file", type=Path, help="CSV with header submission_id,decision,reason")
    _common(review)
    review.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Any) -> int:
    try:
        items = read_csv(args.file)
    except (OSError, ValueError, csv.Error) as exc:
        print(f"piecework review: {args.file}: {exc}", file=sys.stderr)
        return 2
    return run_client("review", review_file(_client_args(args, settings), items))


def read_csv(path: Path) -> list[dict[str, str]]:
    """Every row as a review item; ValueError (one line) on a malformed file."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = tuple(f.strip() for f in reader.fieldnames or ())
        if fields[:2] != HEADER[:2] or not set(fields) <= set(HEADER):
            raise ValueError(f"the header must be {','.join(HEADER)}, got {','.join(fields)!r}")
        reader.fieldnames = list(fields)
        rows = []
        for row in reader:
            if None in row:  # more cells than the header has columns
                raise ValueError(f"line {reader.line_num}: too many cells")
            rows.append(row)
    items = review_items(rows)
    for n, item in enumerate(items, 1):
        if item["decision"] not in ("approve", "reject"):
            raise ValueError(f"row {n}: decision must be approve or reject, got "
                             f"{item['decision']!r}")  # fmt: skip
    return items


async def review_file(args: argparse.Namespace, items: list[dict[str, str]]) -> int:
    counts = {"approved": 0, "rejected": 0, "refused": 0}
    started = time.perf_counter()
    columns = (TextColumn("reviewing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    async with Client(args.url, args.token) as client:
        with Progress(*columns, console=console) as progress:
            bar = progress.add_task("review", total=len(items))
            for start in range(0, len(items), CHUNK):
                chunk = items[start : start + CHUNK]
                try:
                    answer = await client.review(chunk)
                    for key in counts:
                        counts[key] += answer[key]
                    for outcome in answer["results"]:
                        if not outcome["ok"]:
                            console.print(f"[red]{outcome['submission_id']}: {outcome['code']}")
                except ApiError as exc:
                    counts["refused"] += len(chunk)
                    console.print(f"[red]rows {start + 1}-{start + len(chunk)}: {exc}")
                progress.advance(bar, len(chunk))
    elapsed = time.perf_counter() - started
    print(json.dumps({**counts, "seconds": round(elapsed, 3)}))
    return 0 if counts["refused"] == 0 else 1
