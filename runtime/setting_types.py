"""How the text of one PIECEWORK_* variable becomes a value, and what it must look like.

Each parser carries `expects`, the words an error ends with ("PIECEWORK_PARTITIONS must
be an integer >= 1, got 'abc'") and the docs' "accepts" column, so the message, the
check and the table cannot drift apart. A parser raises ValueError; runtime.settings
turns that into one SettingsError line naming the variable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from schemas.money import CURRENCIES

T = TypeVar("T")
# Kafka's legal topic characters; the prefix leaves room for ".dead-letter" in 249.
TOPIC_PREFIX = re.compile(r"[A-Za-z0-9._-]{1,200}")
HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Parser(Generic[T]):
    expects: str
    convert: Callable[[str], T]

    def __call__(self, raw: str) -> T:
        return self.convert(raw.strip())


def _bounded(value: T, low: Any, high: Any) -> T:
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(value)
    return value


def _range_words(kind: str, low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"{kind} in [{low}, {high}]"
    if low is not None:
        return f"{kind} >= {low}"
    return kind


def integer(low: int | None = None, high: int | None = None) -> Parser[int]:
    # int() alone would take "1_000" and " 7"; a digit string (optional minus) is clearer.
    def convert(raw: str) -> int:
        if not re.fullmatch(r"-?\d+", raw):
            raise ValueError(raw)
        return _bounded(int(raw), low, high)

    return Parser(_range_words("an integer", low, high), convert)


def number(low: float, strict: bool = True) -> Parser[float]:
    """A finite number above `low` (strict) or at least `low`: a speed or rate of 0 is nonsense."""

    def convert(raw: str) -> float:
        value = float(raw)
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise ValueError(raw)
        return value

    return Parser(f"a number {'>' if strict else '>='} {low:g}", convert)


def choice(*options: str, fold: Callable[[str], str] = str.lower) -> Parser[str]:
    def convert(raw: str) -> str:
        if fold(raw) not in options:
            raise ValueError(raw)
        return fold(raw)

    return Parser(f"one of {', '.join(options)}", convert)


def text(expects: str = "any text") -> Parser[str]:
    return Parser(expects, lambda raw: raw)


def topic_prefix(make: Callable[[str], T]) -> Parser[T]:
    def convert(raw: str) -> T:
        if not TOPIC_PREFIX.fullmatch(raw):
            raise ValueError(raw)
        return make(raw)

    return Parser("1-200 of the characters A-Z a-z 0-9 . _ -", convert)


def kafka_addresses() -> Parser[str]:
    def convert(raw: str) -> str:
        parts = [p.strip() for p in raw.split(",")]
        for part in parts:
            match = HOST_PORT.fullmatch(part)
            if not match or not 1 <= int(match.group(2) or 9092) <= 65535:
                raise ValueError(raw)
        return ",".join(parts)

    return Parser("comma-separated host[:port] addresses", convert)


def redis_url() -> Parser[str]:
    def convert(raw: str) -> str:
        parts = urlsplit(raw)
        if parts.scheme not in ("redis", "rediss", "unix") or not (parts.netloc or parts.path):
            raise ValueError(raw)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        return raw

    return Parser("a redis://, rediss:// or unix:// URL", convert)


def http_url() -> Parser[str]:
    def convert(raw: str) -> str:
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(raw)
        return raw.rstrip("/")

    return Parser("an http:// or https:// URL", convert)


def directory() -> Parser[Path]:
    # Absolute, because Kafka resolves log.dirs against its own working directory.
    return Parser("a directory path", lambda raw: Path(raw).expanduser().resolve())


def port_or_off(high: int) -> Parser[int | None]:
    def convert(raw: str) -> int | None:
        if raw.lower() in ("off", "none"):
            return None
        return integer(1, high)(raw)

    return Parser(f"a port in [1, {high}] or off", convert)


def currencies() -> Parser[tuple[str, ...]]:
    def convert(raw: str) -> tuple[str, ...]:
        codes = tuple(raw.replace(",", " ").split())
        if any(code not in CURRENCIES for code in codes):
            raise ValueError(raw)
        return codes

    known = ", ".join(sorted(CURRENCIES))
    return Parser(f"currency codes separated by commas or spaces ({known})", convert)
