"""The `piecework` command line: one small module per group of subcommands.

`main` is each process's composition root: it reads the settings once
(runtime.settings.Settings) and hands them to the subcommand, `func(args, settings)`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from runtime import gc_tuning
from runtime.settings import Settings, SettingsError

# Each module exposes register(subparsers); it sets `func` on its parsers.
SUBCOMMAND_MODULES = (
    "deploy.cli.stack",
    "deploy.cli.serve",
    "deploy.cli.client_commands",
    "deploy.cli.listings",
    "deploy.cli.events",
    "deploy.cli.webhooks",
    "deploy.cli.review",
    "deploy.cli.tokens",
    "deploy.cli.lag",
    "deploy.cli.demo",
    "deploy.cli.simulate",
    "deploy.cli.report",
    "deploy.cli.audit",
)
# A setting the user got wrong, like a usage error: argparse exits with 2 as well.
EXIT_SETTINGS = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="piecework", description="Event-sourced broker for micro-work.",
        epilog="Settings are PIECEWORK_* environment variables, listed in docs/SETTINGS.md.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


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
    return int(args.func(args, settings) or 0)


if __name__ == "__main__":
    sys.exit(main())
