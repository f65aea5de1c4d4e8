"""Every subcommand, and every option of it, explains itself in --help; --version and
--debug work before and after the subcommand, for subcommands added later too."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from deploy.cli import build_parser, version
from deploy.cli.errors import UserError, explain
from runtime.settings import Settings, SettingsError


def subcommands(parser: argparse.ArgumentParser, path: str = "piecework"
                ) -> Iterator[tuple[str, str | None, argparse.ArgumentParser]]:  # fmt: skip
    """(name, help line, parser) of every subcommand, nested ones too."""
    for action in parser._actions:  # argparse has no public walk of its subcommands
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{path} {name}", helps.get(name), sub
                yield from subcommands(sub, f"{path} {name}")


def test_every_subcommand_has_a_help_line_and_a_description() -> None:
    found = list(subcommands(build_parser()))
    assert len(found) >= 20
    missing = [name for name, line, sub in found if not line or not sub.description]
    assert missing == []


def test_every_option_and_argument_has_help() -> None:
    missing = [f"{name} {action.dest}" for name, _, sub in subcommands(build_parser())
               for action in sub._actions if not action.help]  # fmt: skip
    assert missing == []


def test_version_names_the_installed_package(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["--version"])
    assert done.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out == f"piecework {version()}" and version() != "unknown"


@pytest.mark.parametrize("argv", [["--debug", "ledger"], ["ledger", "--debug"]])
def test_debug_is_accepted_before_and_after_the_subcommand(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).debug is True


def test_without_debug_the_flag_is_off_for_every_subcommand() -> None:
    parser = build_parser()
    for name, _, sub in subcommands(parser):
        assert "--debug" in sub._option_string_actions, name
    assert parser.parse_args(["ledger"]).debug is False


def args(**values: object) -> argparse.Namespace:
    return argparse.Namespace(command="x", debug=False, **values)


def test_explain_says_what_to_do_for_a_refused_token() -> None:
    from broker.client_http import ApiError

    told = explain(ApiError(401, "unauthenticated", "unknown token"), args(), Settings())
    assert told.status == 1 and told.expected
    assert told.line.startswith("401 unauthenticated: unknown token; pass --token")


def test_explain_names_the_api_that_did_not_answer() -> None:
    told = explain(ConnectionRefusedError(111, "Connection refused"),
                   args(url="http://127.0.0.1:9"), Settings())  # fmt: skip
    assert "http://127.0.0.1:9" in told.line and "piecework serve" in told.line


@pytest.mark.parametrize(("exc", "status"), [
    (SettingsError("PIECEWORK_X must be 1, got 'a'"), 2),
    (FileNotFoundError(2, "No such file or directory", "tasks.jsonl"), 2),
    (UserError("no Kafka"), 1),
    (KeyboardInterrupt(), 130),
])  # fmt: skip
def test_a_user_mistake_is_one_line_without_a_traceback_hint(exc: BaseException,
                                                             status: int) -> None:  # fmt: skip
    told = explain(exc, args(), Settings())
    assert told.status == status and told.expected
    assert "\n" not in told.line and "--debug" not in told.line


def test_an_unknown_error_is_called_a_bug() -> None:
    told = explain(KeyError("partition"), args(), Settings())
    assert not told.expected and told.status == 1
    assert told.line == "unexpected error KeyError: 'partition' (a bug in piecework)"


def test_an_unknown_error_points_at_debug_unless_it_is_on(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from deploy.cli import main, serve

    def broken(args: argparse.Namespace, settings: Settings) -> int:
        raise RuntimeError("topics ['x.commands'] do not exist (run `piecework up`)")

    monkeypatch.setattr(serve, "serve_all", broken)  # looked up when the parser is built
    said = "piecework serve: topics ['x.commands'] do not exist (run `piecework up`)"
    assert main(["serve"]) == 1
    assert capsys.readouterr().err == f"{said}; rerun with --debug for the traceback\n"
    assert main(["serve", "--debug"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and err.endswith(f"\n{said}\n")
