"""The `piecework` command line: one small module per group of subcommands."""

from __future__ import annotations

import argparse
import importlib
import sys

from broker import gc_tuning

# Each module exposes register(subparsers); it sets `func` on its parsers.
SUBCOMMAND_MODULES = (
    "broker.cli.stack",
    "broker.cli.serve",
    "broker.cli.client_commands",
    "broker.cli.tokens",
    "broker.cli.lag",
    "broker.cli.demo",
    "broker.cli.simulate",
    "broker.cli.report",
    "broker.cli.audit",
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
