"""`piecework events`: the caller's events, a page at a time or followed live (SSE)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from broker.client import Client
from deploy.cli.client_commands import _client_args, _common, run_client
from runtime.settings import Settings

PAGE = 500

HELP = """\
The caller's events, oldest first (operators read one actor's, named with --actor-id).

  piecework events                      the first 100 events
  piecework events --after CURSOR       the next ones: the cursor is printed on stderr
  piecework events --follow             new events as they happen, one JSON line each
  piecework events --follow --after C   everything after C, then live

--follow reconnects by itself after a lost connection, from the last event seen, and
never prints an event twice. Ctrl-C stops it and prints the cursor to resume from.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "events", help="the caller's events; --follow for live ones", description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--after", metavar="CURSOR",
                        help="start after this cursor, or 'latest' for only new events "
                        "(default: the start of the log; with --follow, latest)")  # fmt: skip
    parser.add_argument("--types", metavar="T1,T2",
                        help="only these event types, comma-separated "
                        "(e.g. SubmissionApproved,WorkerCredited)")  # fmt: skip
    parser.add_argument("--limit", type=int, default=100,
                        help="at most this many events (default 100; not with --follow)")
    parser.add_argument("--follow", action="store_true",
                        help="keep going: print events as they happen, until Ctrl-C")
    parser.add_argument("--json", action="store_true",
                        help="each event as one JSON line (always so with --follow)")
    parser.add_argument("--actor-id", help="whose events (operators must name one)")
    _common(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    args = _client_args(args, settings)
    if not args.follow:
        return run_client("events", list_events(args))
    position = {"cursor": args.after or "latest"}
    try:
        return run_client("events", follow(args, position))
    except KeyboardInterrupt:  # the way to stop following: not an error
        print(f"\npiecework events: stopped; resume with --after {position['cursor']}",
              file=sys.stderr)  # fmt: skip
        return 0


def line(item: dict[str, Any]) -> str:
    """One event for people: its time (UTC), type and data."""
    at = datetime.fromtimestamp(item["at"] / 1000, UTC).isoformat(timespec="milliseconds")
    return f"{at.replace('+00:00', 'Z')}  {item['type']}  {json.dumps(item['data'])}"


async def list_events(args: argparse.Namespace) -> int:
    cursor, shown, more = args.after, 0, True
    async with Client(args.url, args.token) as client:
        while more and shown < args.limit:
            page = await client.events_page(cursor, min(args.limit - shown, PAGE), args.types,
                                            actor_id=args.actor_id)  # fmt: skip
            for item in page["items"]:
                print(json.dumps(item) if args.json else line(item))
            shown += len(page["items"])
            cursor, more = page.get("next_cursor") or cursor, bool(page.get("has_more"))
    state = "more" if more else "up to date"
    if cursor:
        print(f"piecework events: {shown} shown, {state}; continue with --after {cursor}",
              file=sys.stderr)  # fmt: skip
    return 0


async def follow(args: argparse.Namespace, position: dict[str, str]) -> int:
    """Print each event as it comes; position["cursor"] is always the one to resume from."""
    async with Client(args.url, args.token) as client:
        if position["cursor"] == "latest":  # made a cursor first, so Ctrl-C can name one
            page = await client.events_page("latest", 1, args.types, actor_id=args.actor_id)
            for item in page["items"]:
                print(json.dumps(item), flush=True)
            position["cursor"] = page.get("next_cursor") or "latest"
        async for item in client.follow_events(position["cursor"], args.types,
                                               actor_id=args.actor_id):  # fmt: skip
            print(json.dumps(item), flush=True)  # flushed: a pipe sees each event at once
            position["cursor"] = item["cursor"]
    return 0
