"""One log format for every process role and every library in it: piecework, Faust (and
its `mode`), aiokafka, kafka-python, aiohttp, Python warnings.

`configure(settings, role)` is called once by a process's composition root. Each line
names the time (UTC), level, role, logger and the correlation id of the request or
command at hand, if any:

    2026-12-06T07:39:08.367Z INFO api-0 broker.api.protocol [-] API listening on ...

or, with PIECEWORK_LOG_FORMAT=json, one JSON object per line with the same fields (for
a log shipper). The libraries' INFO chatter (Faust's start-up tables, aiokafka's
subscriptions) is held at WARNING unless PIECEWORK_LOG_LEVEL=DEBUG; aiohttp's access
log (a line per request: 22,000 in a demo) is off unless PIECEWORK_ACCESS_LOG=1.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import IO, Any

from runtime.settings import Settings

# Set where a request or a command is handled (broker.api), read by every log line logged
# in that context; "-" outside one.
correlation_id: ContextVar[str] = ContextVar("correlation_id", default="-")

# Libraries whose INFO lines are about their own machinery, not about piecework's work.
CHATTY = ("faust", "mode", "aiokafka", "kafka", "aiohttp", "asyncio", "urllib3", "docker")
ACCESS_LOGGER = "aiohttp.access"
TEXT_FORMAT = "%(utc)s %(levelname)s %(role)s %(name)s [%(correlation_id)s] %(message)s"


class _Context(logging.Filter):
    """Adds role, correlation id and a UTC ISO timestamp to every record."""

    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role

    def filter(self, record: logging.LogRecord) -> bool:
        record.role = self.role
        if not hasattr(record, "correlation_id"):  # an explicit extra={...} wins
            record.correlation_id = correlation_id.get()
        millis = int(record.msecs)
        record.utc = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        record.utc += f".{millis:03d}Z"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": record.utc,  # type: ignore[attr-defined]
            "level": record.levelname,
            "role": record.role,  # type: ignore[attr-defined]
            "logger": record.name,
            "correlation_id": record.correlation_id,  # type: ignore[attr-defined]
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def formatter(settings: Settings) -> logging.Formatter:
    return JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure(settings: Settings, role: str, stream: IO[str] | None = None) -> None:
    """Route every logger of this process through one handler on `stream` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_Context(role))
    handler.setFormatter(formatter(settings))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    library_level = logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING
    for name in CHATTY:
        logging.getLogger(name).setLevel(max(library_level, logging.getLevelName(
            settings.log_level)))  # fmt: skip
    # The access log is INFO; "on" shows it whatever the libraries' level.
    logging.getLogger(ACCESS_LOGGER).setLevel(
        logging.INFO if settings.access_log else logging.CRITICAL + 1)
    logging.captureWarnings(True)
