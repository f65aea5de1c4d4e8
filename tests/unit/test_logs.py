"""One log format for piecework and the libraries: role, correlation id, JSON on demand;
the libraries' chatter and aiohttp's access log kept out unless asked for."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from runtime import logs
from runtime.settings import Settings


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = (*logs.CHATTY, logs.ACCESS_LOGGER)
    levels = {n: logging.getLogger(n).level for n in names}
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    for n, lvl in levels.items():
        logging.getLogger(n).setLevel(lvl)
    logging.captureWarnings(False)


def configured(**settings: object) -> io.StringIO:
    out = io.StringIO()
    logs.configure(Settings(**settings), "api-0", out)  # type: ignore[arg-type]
    return out


def test_a_text_line_names_time_level_role_logger_and_correlation() -> None:
    out = configured()
    token = logs.correlation_id.set("corr-42")
    try:
        logging.getLogger("broker.api.x").info("posted %d", 3)
    finally:
        logs.correlation_id.reset(token)
    logging.getLogger("broker.api.x").warning("outside")
    first, second = out.getvalue().splitlines()
    stamp, level, role, name, corr, *message = first.split(" ")
    assert stamp.endswith("Z") and "T" in stamp
    assert (level, role, name, corr, " ".join(message)) == (
        "INFO", "api-0", "broker.api.x", "[corr-42]", "posted 3")
    assert second.endswith("broker.api.x [-] outside")


def test_json_lines_carry_the_same_fields() -> None:
    out = configured(log_format="json")
    token = logs.correlation_id.set("c-1")
    try:
        logging.getLogger("consumers.x").error("boom")
    finally:
        logs.correlation_id.reset(token)
    line = json.loads(out.getvalue())
    assert {k: line[k] for k in ("level", "role", "logger", "correlation_id", "message")} == {
        "level": "ERROR", "role": "api-0", "logger": "consumers.x", "correlation_id": "c-1",
        "message": "boom"}
    assert line["ts"].endswith("Z")


def test_library_info_and_the_access_log_are_held_back_by_default() -> None:
    out = configured()
    logging.getLogger("faust.worker").info("Starting...")
    logging.getLogger("aiokafka.consumer").info("Updating subscribed topics")
    logging.getLogger("aiohttp.access").info('127.0.0.1 "GET /v1/ledger" 200')
    logging.getLogger("kafka.conn").warning("reconnecting")
    assert [line.split(" ")[3] for line in out.getvalue().splitlines()] == ["kafka.conn"]


def test_the_access_log_is_a_setting() -> None:
    out = configured(access_log=True)
    logging.getLogger("aiohttp.access").info('127.0.0.1 "GET /v1/ledger" 200')
    assert "GET /v1/ledger" in out.getvalue()


def test_debug_lets_the_libraries_speak() -> None:
    out = configured(log_level="DEBUG")
    logging.getLogger("faust.worker").info("Starting...")
    assert "faust.worker" in out.getvalue()


def test_warnings_go_through_the_same_format() -> None:
    out = configured()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("old API", DeprecationWarning, stacklevel=1)
    assert " py.warnings [-] " in out.getvalue() and "old API" in out.getvalue()
