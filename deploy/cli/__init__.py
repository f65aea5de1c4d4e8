"""The `piecework` command line: one small module per group of subcommands."""

from __future__ import annotations

import argparse
import importlib
import sys

from runtime import gc_tuning

# Each module exposes register(subparsers); it sets `func` on its parsers.
SUBCOMMAND_MODULES = (
    "deploy.cli.stack",
    "deploy.cli.serve",
    "deploy.cli.client_commands",
    "deploy.cli.tokens",
    "deploy.cli.lag",
    "deploy.cli.demo",
    "deploy.cli.simulate",
    "deploy.cli.report",
    "deploy.cli.audit",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="piecework", description="Event-sourced broker for micro-work."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    gc_tuning.tune()
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
