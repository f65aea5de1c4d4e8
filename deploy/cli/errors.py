"""What a failed subcommand tells its user: one line saying what went wrong and what to do.

`piecework` never shows a traceback for a user's mistake (a wrong token, a server not
running, a missing file, Kafka down, a bad setting). `explain` turns the exception into
that line and the exit status; an exception it does not know (likely a bug in
piecework) is told in one line as well, and deploy.cli.main adds the hint to rerun with
`--debug` for the traceback.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from runtime.settings import Settings, SettingsError

EXIT_REFUSED = 1  # the API or the stack answered no, or could not be reached
EXIT_USAGE = 2  # what the user gave is unusable (argparse uses 2 as well)
EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C


class UserError(Exception):
    """A subcommand cannot go on because of something the user can fix; the message is
    the whole line, with its hint."""

    def __init__(self, message: str, status: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Explained:
    line: str
    status: int
    # False: perhaps a bug in piecework, whose traceback matters: main points at --debug.
    expected: bool = True


API_HINTS = {
    401: "pass --token or set PIECEWORK_TOKEN to a live token "
    "(`piecework actor` creates one, `piecework token issue` issues another)",
    403: "this token's actor may not do that: use a token of the right role",
    404: "check the id (listings: `piecework batches`)",
    429: "too many requests: wait a moment (PIECEWORK_RATE_LIMIT on the server)",
    503: "the stack is starting or recovering: try again in a few seconds",
}


def _api_url(args: argparse.Namespace, settings: Settings | None) -> str:
    url = getattr(args, "url", None)
    return url or (settings.api_url if settings else "the API")


def _kafka_line(exc: BaseException, settings: Settings | None) -> str:
    where = settings.kafka if settings else "PIECEWORK_KAFKA"
    said = str(exc) if str(exc).startswith(type(exc).__name__) else f"{type(exc).__name__}: {exc}"
    return (f"cannot reach Kafka at {where} ({said}); is it running? `piecework up` starts a "
            "local one, PIECEWORK_KAFKA names another")  # fmt: skip


def _redis_line(exc: BaseException, settings: Settings | None) -> str:
    where = settings.redis if settings else "PIECEWORK_REDIS"
    return (f"cannot reach Redis at {where} ({exc}); is it running? `piecework up` "
            "starts a local one, PIECEWORK_REDIS names another")  # fmt: skip


def explain(exc: BaseException, args: argparse.Namespace, settings: Settings | None
            ) -> Explained:  # fmt: skip
    """The one line (without the `piecework CMD: ` prefix) and exit status for `exc`."""
    # Imported here: `piecework --help` and the settings errors need none of them.
    import aiohttp
    import redis
    from kafka.errors import KafkaError

    from broker.client_http import ApiError
    from schemas.errors import SchemaError

    if isinstance(exc, KeyboardInterrupt):
        return Explained("interrupted", EXIT_INTERRUPTED)
    if isinstance(exc, UserError):
        return Explained(str(exc), exc.status)
    if isinstance(exc, SettingsError):
        return Explained(str(exc), EXIT_USAGE)
    if isinstance(exc, ApiError):
        hint = API_HINTS.get(exc.status)
        return Explained(f"{exc}" + (f"; {hint}" if hint else ""), EXIT_REFUSED)
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError):
        return Explained(
            f"cannot reach the API at {_api_url(args, settings)} ({exc.strerror or exc}); "
            "is `piecework serve` running? --url or PIECEWORK_URL names another", EXIT_REFUSED)
    if isinstance(exc, aiohttp.ClientError | TimeoutError):
        kind = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        return Explained(f"the API at {_api_url(args, settings)}: {kind}", EXIT_REFUSED)
    if isinstance(exc, KafkaError):
        return Explained(_kafka_line(exc, settings), EXIT_REFUSED)
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return Explained(_redis_line(exc, settings), EXIT_REFUSED)
    if isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError
                   | PermissionError):  # fmt: skip
        return Explained(f"{exc.filename}: {exc.strerror}", EXIT_USAGE)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return Explained(f"{where}{exc.strerror or exc}", EXIT_REFUSED)
    if isinstance(exc, SchemaError | UnicodeDecodeError):
        return Explained(f"unreadable input: {exc}", EXIT_USAGE)
    if type(exc) is RuntimeError:  # piecework's own "cannot go on" (a topic missing, ...)
        return Explained(str(exc), EXIT_REFUSED, expected=False)
    return Explained(f"unexpected error {type(exc).__name__}: {exc} (a bug in piecework)",
                     EXIT_REFUSED, expected=False)  # fmt: skip
