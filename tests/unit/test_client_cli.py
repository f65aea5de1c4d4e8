"""`piecework deposit`, `events`, `webhooks`: amounts read exactly, mistakes in one line."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from deploy.cli import build_parser, main
from deploy.cli.client_commands import micro_units

DEAD = ["--url", "http://127.0.0.1:9", "--token", "t"]  # nothing listens on the discard port


@pytest.mark.parametrize(("text", "units", "micro"), [
    ("50000000", False, 50_000_000), ("50", True, 50_000_000), ("50.00", True, 50_000_000),
    ("0.0003", True, 300), ("7", False, 7),
])  # fmt: skip
def test_amounts_are_micro_units_unless_told_units(text: str, units: bool, micro: int):
    assert micro_units(text, units) == micro


@pytest.mark.parametrize(("text", "units"), [("50.00", False), ("-5", False), ("1e3", False),
                                             ("0.0000001", True), ("fifty", True)])
def test_an_amount_that_is_not_one_is_refused(text: str, units: bool):
    with pytest.raises(ValueError):
        micro_units(text, units)


def test_a_decimal_without_units_says_how(capsys: pytest.CaptureFixture) -> None:
    assert main(["deposit", "50.00", "eur", *DEAD]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--units" in err[0]


@pytest.mark.parametrize("argv", [
    ["deposit", "5", "EUR"], ["events"], ["events", "--follow"], ["webhooks", "list"],
    ["webhooks", "create", "https://example.org/hook"], ["webhooks", "deliveries", "wh1"],
    ["ledger"], ["actor", "ana", "worker"], ["token", "list", "ana"],
])  # fmt: skip
def test_an_unreachable_api_is_one_line(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    assert main([*argv, *DEAD]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"piecework {argv[0]}")
    assert "Traceback" not in err[0]


def parsers_of(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:  # argparse has no public walk of its subcommands
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from parsers_of(sub)


@pytest.mark.parametrize("command", ["deposit", "events", "webhooks"])
def test_every_argument_has_help(command: str):
    (top,) = (p for p in parsers_of(build_parser()) if p.prog == f"piecework {command}")
    for parser in parsers_of(top):
        for action in parser._actions:
            assert action.help, f"{parser.prog}: {action.dest} has no help"
