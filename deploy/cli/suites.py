"""Task suites from the shell: `piecework claim`, `submit-many FILE`, `release-many`.

    piecework claim --count 20 [--group G]      # JSON lines, one claim each
    piecework submit-many answers.jsonl         # {"claim_id": ..., "answer": ...} per line
    piecework release-many CLAIM_ID ...         # or - to read claim ids from stdin
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from broker.client import Client
from deploy.cli.client_commands import _client_args, _common, run_client
from schemas.commands import MAXIMUM_SUITE


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAXIMUM_SUITE:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAXIMUM_SUITE}, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    claim = subparsers.add_parser(
        "claim", help=f"claim a suite of up to {MAXIMUM_SUITE} distinct tasks (JSON lines)")
    claim.add_argument("--count", type=_count, default=1, help="claims wanted (default 1)")
    claim.add_argument("--group", help="claim only from this task group (piecework groups)")
    claim.add_argument("--idempotency-key", help="running it again answers the same claims")
    _common(claim)
    claim.set_defaults(func=lambda a, s: run_client("claim", claim_suite(_client_args(a, s))))

    submit = subparsers.add_parser(
        "submit-many", help="submit answers from a JSON-lines file ({claim_id, answer}),"
                            f" {MAXIMUM_SUITE} a request; exit 1 if any item was refused")
    submit.add_argument("file", type=Path, help="JSON lines, or - for stdin")
    _common(submit)
    submit.set_defaults(func=run_submit)

    release = subparsers.add_parser(
        "release-many", help="give claims back (what is left of a suite); exit 1 if any"
                             " was refused")
    release.add_argument("claim_ids", nargs="+", help="claim ids, or - to read them from stdin")
    _common(release)
    release.set_defaults(func=lambda a, s: run_client(
        "release-many", release_many(_client_args(a, s), _ids(a.claim_ids))))


async def claim_suite(args: argparse.Namespace) -> int:
    async with Client(args.url, args.token) as client:
        claims = await client.claim_suite(args.count, args.group,
                                          idempotency_key=args.idempotency_key)  # fmt: skip
    for claim in claims:
        print(json.dumps(claim))
    if not claims:
        print("nothing fits now", file=sys.stderr)
    return 0


def read_answers(path: Path) -> list[dict[str, Any]]:
    """The file's {claim_id, answer} lines; ValueError names the first line that is not one."""
    text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {n}: not JSON: {exc}") from None
        if not isinstance(row, dict) or not isinstance(row.get("claim_id"), str) \
                or "answer" not in row:  # fmt: skip
            raise ValueError(f"line {n}: needs a claim_id and an answer")
        items.append({"claim_id": row["claim_id"], "answer": row["answer"]})
    return items


def run_submit(args: argparse.Namespace, settings: Any) -> int:
    try:
        items = read_answers(args.file)
    except (OSError, ValueError) as exc:
        print(f"piecework submit-many: {args.file}: {exc}", file=sys.stderr)
        return 2
    return run_client("submit-many", submit_many(_client_args(args, settings), items))


def _ids(given: list[str]) -> list[str]:
    return sys.stdin.read().split() if given == ["-"] else given


async def _in_chunks(items: list[Any], send: Any, counted: str) -> int:
    """Send `items` MAXIMUM_SUITE at a time; print each result as a JSON line and a summary."""
    totals = {counted: 0, "refused": 0}
    for start in range(0, len(items), MAXIMUM_SUITE):
        answer = await send(items[start : start + MAXIMUM_SUITE])
        for result in answer["results"]:
            print(json.dumps(result))
        for key in totals:
            totals[key] += answer[key]
    print(json.dumps(totals), file=sys.stderr)
    return 0 if totals["refused"] == 0 else 1


async def submit_many(args: argparse.Namespace, items: list[dict[str, Any]]) -> int:
    async with Client(args.url, args.token) as client:
        return await _in_chunks(items, client.submit_many, "submitted")


async def release_many(args: argparse.Namespace, claim_ids: list[str]) -> int:
    async with Client(args.url, args.token) as client:
        return await _in_chunks(claim_ids, client.release_many, "released")
