"""`piecework settings`: every PIECEWORK_* setting with the value this process reads;
`--doc` prints docs/SETTINGS.md as generated from the code (runtime.settings_doc)."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from rich.console import Console
from rich.table import Table

from runtime.settings import Settings

SECRET = "(set, hidden)"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "settings", help="every PIECEWORK_* setting: its value here, its default, its meaning",
        description="Every setting piecework reads from the environment, with the value this "
        "shell gives it (tokens hidden) and its default. A value piecework cannot use is "
        "refused in one line before this table.")  # fmt: skip
    p.add_argument("--doc", action="store_true",
                   help="print docs/SETTINGS.md as the code generates it (`piecework settings "
                   "--doc > docs/SETTINGS.md`)")  # fmt: skip
    p.set_defaults(func=run)


def shown(settings: Settings, field: dataclasses.Field) -> str:
    value = getattr(settings, field.name)
    if not field.repr:  # a secret: repr=False keeps it out of logs, and out of here
        return SECRET if value else "unset"
    if value is None or value == ():
        return "unset"
    return str(getattr(value, "prefix", value))


def run(args: argparse.Namespace, settings: Settings) -> int:
    from runtime.settings_doc import render

    if args.doc:
        sys.stdout.write(render())
        return 0
    defaults = Settings()
    table = Table("variable", "value", "default", "meaning")
    for f in dataclasses.fields(Settings):
        value, default = shown(settings, f), shown(defaults, f)
        mark = "" if value == default else "[bold]"
        table.add_row(f.metadata["env"], f"{mark}{value}", default, f.metadata["meaning"])
    Console().print(table)
    return 0
