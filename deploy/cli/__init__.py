"""The `piecework` command line: one small module per group of subcommands.

`main` is each process's composition root: it reads the settings once
(runtime.settings.Settings) and hands them to the subcommand, `func(args, settings)`.
Whatever a subcommand raises ends here, as one line with a hint and a non-zero exit
status (deploy.cli.errors); `--debug`, anywhere on the line, shows the traceback too.
Every subcommand gets `--debug` and a description (its help) from `build_parser`, so a
module only registers its parsers.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from importlib import metadata

from deploy.cli.errors import EXIT_USAGE, explain
from runtime import gc_tuning
from runtime.settings import Settings, SettingsError

# Each module exposes register(subparsers); it sets `func` on its parsers.
SUBCOMMAND_MODULES = (
    "deploy.cli.stack",
    "deploy.cli.settings_cmd",
    "deploy.cli.serve",
    "deploy.cli.client_commands",
    "deploy.cli.listings",
    "deploy.cli.groups",
    "deploy.cli.events",
    "deploy.cli.webhooks",
    "deploy.cli.review",
    "deploy.cli.suites",
    "deploy.cli.tokens",
    "deploy.cli.lag",
    "deploy.cli.demo",
    "deploy.cli.simulate",
    "deploy.cli.report",
    "deploy.cli.audit",
    "deploy.cli.integrity",
)
# A setting the user got wrong, like a usage error: argparse exits with 2 as well.
EXIT_SETTINGS = EXIT_USAGE
DEBUG_HELP = "on an error, print the full traceback too"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="piecework", description="Event-sourced broker for micro-work.",
        epilog="Settings are PIECEWORK_* environment variables, listed in docs/SETTINGS.md "
        "(`piecework settings`).")  # fmt: skip
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    _complete(subparsers)
    return parser


def version() -> str:
    try:
        return metadata.version("piecework")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _complete(subparsers: argparse._SubParsersAction) -> None:
    """Every subcommand, nested ones too: its help as description when it has none, and
    `--debug` after the subcommand as well (`piecework post f.jsonl --debug`)."""
    helps = {action.dest: action.help for action in subparsers._choices_actions}
    for name, sub in subparsers.choices.items():
        if not sub.description and helps.get(name):
            sub.description = helps[name][:1].upper() + helps[name][1:] + "."
        if "--debug" not in sub._option_string_actions:
            # SUPPRESS: absent after the subcommand, the top-level value stands.
            sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help=DEBUG_HELP)  # fmt: skip
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                _complete(action)


def read_settings() -> Settings | None:
    """The process's settings, or None once a bad value is told in one line on stderr
    (no traceback: it is the user's mistake, not piecework's)."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"piecework: {exc}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # first: --help needs no valid setting
    settings = read_settings()
    if settings is None:
        return EXIT_SETTINGS
    gc_tuning.tune()
    try:
        return int(args.func(args, settings) or 0)
    except SystemExit:
        raise
    except BaseException as exc:  # KeyboardInterrupt too: one line, not a traceback
        told = explain(exc, args, settings)
        if args.debug:
            traceback.print_exc()
        hint = "" if told.expected or args.debug else "; rerun with --debug for the traceback"
        print(f"piecework {args.command}: {told.line}{hint}", file=sys.stderr)
        return told.status


if __name__ == "__main__":
    sys.exit(main())
