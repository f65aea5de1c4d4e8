"""`piecework groups`, `piecework scorecard REQUESTER`, `piecework statement [--csv]`: the
open task groups a worker may take, a requester's scorecard, the worker's own statement."""

from __future__ import annotations

import argparse
import json
import sys

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

SORTS = ("reward_per_hour", "requester_wage", "newest")
CURRENCIES = ("EUR", "GBP", "USD")


def register(subparsers: argparse._SubParsersAction) -> None:
    groups = subparsers.add_parser("groups", help="open task groups the worker qualifies for")
    groups.add_argument("--sort", choices=SORTS, default="reward_per_hour",
                        help="best first by this (default reward_per_hour)")  # fmt: skip
    groups.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    groups.add_argument("--json", action="store_true", help="one JSON object per line")
    _common(groups)
    groups.set_defaults(func=lambda a, s: run_client("groups", list_groups(_client_args(a, s))))

    card = subparsers.add_parser("scorecard", help="a requester's scorecard, from the log")
    card.add_argument("requester_id", help="whose scorecard")
    card.add_argument("--currency", choices=CURRENCIES, default="EUR",
                      help="the currency of the figures (default EUR)")
    card.add_argument("--json", action="store_true", help="the raw answer, as JSON")
    _common(card)
    card.set_defaults(func=lambda a, s: run_client("scorecard", show_scorecard(_client_args(a, s))))

    statement = subparsers.add_parser(
        "statement", help="the worker's pay, work and unpaid time, per requester and overall")
    statement.add_argument("--currency", choices=CURRENCIES, default="EUR",
                           help="the currency of the figures (default EUR)")
    output = statement.add_mutually_exclusive_group()
    output.add_argument("--csv", action="store_true", help="CSV, one line per requester")
    output.add_argument("--json", action="store_true", help="the raw answer, as JSON")
    _common(statement)
    statement.set_defaults(
        func=lambda a, s: run_client("statement", show_statement(_client_args(a, s))))


def _money(micro: int | None) -> str:
    return "-" if micro is None else f"{micro / 1_000_000:.2f}"


def _hours(ms: int) -> str:
    return f"{ms / 3_600_000:.2f}"


async def list_groups(args: argparse.Namespace) -> int:
    async with Client(args.url, args.token) as client:
        rows = await first_rows(client.task_groups(args.sort, limit=page_size(args.limit)),
                                args.limit)  # fmt: skip
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    table = Table("group", "requester", "kind", "reward", "per hour", "measured /h",
                  "rejected", "open", "free")  # fmt: skip
    for r in rows:
        card = r["requester"]
        wage = card["effective_hourly_wage"]
        rate = card["rejection_rate"]["value"]
        flag = " (outlier)" if card["rejection_outlier"]["flagged"] else ""
        table.add_row(r["group_id"], r["requester_id"], r["kind"],
                      f"{_money(r['reward'])} {r['currency']}", _money(r["reward_per_hour"]),
                      _money(wage["value"]) if wage["value"] is not None else "too few reviews",
                      ("-" if rate is None else f"{rate:.1%}") + flag,
                      str(r["open_tasks"]), str(r["free_assignments"]))  # fmt: skip
    Console().print(table)
    return 0


async def show_scorecard(args: argparse.Namespace) -> int:
    async with Client(args.url, args.token) as client:
        card = await client.scorecard(args.requester_id, args.currency)
    if args.json:
        print(json.dumps(card))
        return 0
    wage, rate = card["effective_hourly_wage"], card["rejection_rate"]
    ttp, outlier = card["time_to_pay_seconds"], card["rejection_outlier"]
    print(f"requester {card['requester_id']} ({card['currency']}), {card['reviewed']} reviews"
          f" (figures need {card['min_reviews']})")  # fmt: skip
    print(f"  measured wage per hour {_money(wage['value'])} ({wage['status']}),"
          f" promised {_money(card['promised_hourly_wage'])}")  # fmt: skip
    shown = "-" if rate["value"] is None else (
        f"{rate['value']:.1%} (95% {rate['low']:.1%} to {rate['high']:.1%})")
    print(f"  rejection rate {shown}, outlier: {outlier['flagged']}")
    print(f"  disputed {card['disputed']}, overturned {card['overturned']}")
    print(f"  time to pay p50 {ttp['p50']} s, p95 {ttp['p95']} s ({ttp['approvals']} approvals)")
    return 0


async def show_statement(args: argparse.Namespace) -> int:
    async with Client(args.url, args.token) as client:
        if args.csv:
            sys.stdout.write(await client.statement_csv(args.currency))
            return 0
        found = await client.statement(args.currency)
    if args.json:
        print(json.dumps(found))
        return 0
    table = Table("requester", "paid", "bonuses", "work h", "unpaid h", "rejected h",
                  "released h", "expired h", "pending h", "per hour")  # fmt: skip
    lines = [(r["requester_id"], r) for r in found["by_requester"]]
    for name, r in [*lines, ("overall", found["overall"])]:
        causes = r["unpaid_by_cause_ms"]
        table.add_row(name, _money(r["paid"]), _money(r["bonuses"]), _hours(r["work_ms"]),
                      _hours(r["unpaid_ms"]), _hours(causes["rejected"]),
                      _hours(causes["released"]), _hours(causes["expired"]),
                      _hours(causes["pending"]), _money(r["effective_hourly_wage"]))  # fmt: skip
    Console().print(table)
    money = found["money"]
    print(f"{found['currency']}: earned {_money(money['earned'])}, pending"
          f" {_money(money['pending'])} (owed {_money(money['owed'])}, balance"
          f" {_money(money['balance'])}), paid out {_money(money['paid_out'])}")  # fmt: skip
    return 0
