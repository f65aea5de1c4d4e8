"""`piecework webhooks list|show|create|delete|enable|deliveries`: where piecework POSTs
the caller's events, and how those deliveries went."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from broker.client import Client
from deploy.cli.client_commands import (
    _client_args,
    _common,
    console,
    first_rows,
    page_size,
    run_client,
)
from runtime.settings import Settings

HELP = """\
Webhooks: piecework POSTs each of the caller's events (or only the types named) to a URL,
signed the Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature
headers); check them with broker.client.verify_webhook(secret, headers, body, now).
A webhook that keeps failing is disabled; `enable` turns it back on.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "webhooks", help="subscribe a URL to the caller's events; list, delete, deliveries",
        description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION",
                                    help="what to do")

    listing = actions.add_parser("list", help="the caller's webhooks")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    create = actions.add_parser("create", help="subscribe URL; prints its secret, once")
    create.add_argument("target_url", metavar="URL",
                        help="the receiver, where to POST the events (--url is the API's)")
    create.add_argument("--types", metavar="T1,T2",
                        help="only these event types, comma-separated (default: every type)")
    create.add_argument("--description", help="a note for people")
    show = actions.add_parser("show", help="one webhook: status, types, failures")
    delete = actions.add_parser("delete", help="stop and remove a webhook")
    enable = actions.add_parser("enable", help="turn a disabled webhook back on")
    deliveries = actions.add_parser("deliveries", help="a webhook's delivery attempts")
    deliveries.add_argument("--limit", type=int, default=50,
                            help="at most this many (default 50)")  # fmt: skip
    deliveries.add_argument("--json", action="store_true", help="one JSON object per line")
    for needs_id in (show, delete, enable, deliveries):
        needs_id.add_argument("webhook_id", metavar="ID", help="the webhook's id")
    for readable in (listing, show, deliveries):
        readable.add_argument("--actor-id", help="whose webhooks (operators)")
    for action in (listing, create, show, delete, enable, deliveries):
        _common(action)
        action.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    return run_client(f"webhooks {args.action}", act(_client_args(args, settings)))


async def act(args: argparse.Namespace) -> int:
    async with Client(args.url, args.token) as client:
        if args.action == "list":
            show_rows(await client.webhooks(actor_id=args.actor_id), args.json, WEBHOOK_COLUMNS)
        elif args.action == "create":
            types = [t.strip() for t in (args.types or "").split(",") if t.strip()]
            created = await client.create_webhook(args.target_url, types, args.description)
            console.print("[yellow]the secret is shown this once: keep it to verify deliveries")
            print(json.dumps(created))
        elif args.action == "show":
            print(json.dumps(await client.webhook(args.webhook_id, actor_id=args.actor_id)))
        elif args.action == "delete":
            await client.delete_webhook(args.webhook_id)
            print(json.dumps({"webhook_id": args.webhook_id, "deleted": True}))
        elif args.action == "enable":
            print(json.dumps(await client.enable_webhook(args.webhook_id)))
        else:
            deliveries = client.webhook_deliveries(args.webhook_id, limit=page_size(args.limit),
                                                   actor_id=args.actor_id)  # fmt: skip
            rows = await first_rows(deliveries, args.limit)
            show_rows(rows, args.json, DELIVERY_COLUMNS)
    return 0


WEBHOOK_COLUMNS = ("webhook_id", "url", "status", "event_types", "failures", "created_at")
DELIVERY_COLUMNS = ("at", "event_type", "event_id", "attempt", "status", "http_status",
                    "latency_ms", "error")  # fmt: skip


def show_rows(rows: list[dict[str, Any]], as_json: bool, columns: tuple[str, ...]) -> None:
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*(cell(row.get(c)) for c in columns))
    Console().print(table)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(map(str, value)) or "(all)"
    return str(value)
