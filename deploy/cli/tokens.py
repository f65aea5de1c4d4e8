"""`piecework token issue|list|revoke ACTOR`: an operator's handle on API tokens."""

from __future__ import annotations

import argparse
import json

from broker.client import Client
from deploy.cli.client_commands import _client_args, _common, console, run_client
from runtime.settings import Settings

HELP = """\
Manage an actor's API tokens (operators only). A token is shown once, when issued;
afterwards it is named by its token id (the first 16 hex digits of its SHA-256), which
is enough to list and revoke it and useless to call the API with.

  piecework token issue ana             one more token for ana (the old ones keep working)
  piecework token issue ana --rotate    a new token; every other token of ana is revoked
  piecework token list ana              the ids of ana's live tokens
  piecework token revoke ana 1f2e...    revoke that one token
  piecework token revoke ana            revoke every token of ana

A revoked token is refused by every API process within half a second. The operator's
token: --token, else $PIECEWORK_TOKEN, else $PIECEWORK_OPERATOR_TOKEN.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "token", help="issue, list, rotate and revoke API tokens (operators)",
        description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("issue", "list", "revoke"), help="what to do")
    parser.add_argument("actor_id", metavar="ACTOR", help="whose tokens")
    parser.add_argument("token_id", metavar="TOKEN_ID", nargs="?",
                        help="revoke: only this token (default: every token of ACTOR)")
    parser.add_argument("--rotate", action="store_true",
                        help="issue: revoke every other token of ACTOR in the same step")
    _common(parser)
    parser.set_defaults(func=lambda a, s: run_client("token", run(_client_args(a, s), s)))


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.token_id is not None and args.action != "revoke":
        console.print("[red]TOKEN_ID is for `revoke` only")
        return 2
    if args.rotate and args.action != "issue":
        console.print("[red]--rotate is for `issue` only")
        return 2
    # The other client commands read PIECEWORK_TOKEN; the operator who started `serve`
    # may only have PIECEWORK_OPERATOR_TOKEN set, so that is the fallback. A refusal is
    # told by deploy.cli.main, in one line with a hint.
    async with Client(args.url, args.token or settings.operator_token) as client:
        if args.action == "issue":
            result = await client.issue_token(args.actor_id, revoke_existing=args.rotate)
        elif args.action == "list":
            ids = await client.list_tokens(args.actor_id)
            result = {"actor_id": args.actor_id, "token_ids": ids}
        elif args.token_id is not None:
            ids = await client.revoke_token(args.actor_id, args.token_id)
            result = {"actor_id": args.actor_id, "revoked": ids}
        else:
            ids = await client.revoke_tokens(args.actor_id)
            result = {"actor_id": args.actor_id, "revoked": ids}
    print(json.dumps(result))
    return 0
