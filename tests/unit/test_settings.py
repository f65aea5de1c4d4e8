"""One settings object: every PIECEWORK_* variable read once, checked, and documented.

The CLI's one-line error for a bad value is tested through a subprocess in
tests/unit/test_settings_cli.py.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from broker.domain import policy
from consumers.timers.payouts import PayoutPolicy
from consumers.timers.timer import payout_policy
from deploy.policy import policy_for
from runtime import settings_doc
from runtime.settings import POLICY_KNOBS, WAGE_FLOOR_MODES, Settings, SettingsError, variables
from schemas.topics import Topics

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("broker", "consumers", "audit", "runtime", "deploy", "schemas")
NAME = re.compile(r"PIECEWORK_[A-Z0-9_]+")


def test_unset_means_every_default() -> None:
    assert Settings.from_env({}) == Settings()
    assert Settings().topics == Topics("piecework") and Settings().partitions == 8


def test_each_variable_sets_its_field() -> None:
    s = Settings.from_env({
        "PIECEWORK_KAFKA": "k1:9092, k2:9094", "PIECEWORK_REDIS": "redis://r:6380/3",
        "PIECEWORK_TOPIC_PREFIX": "t.stack.ab12", "PIECEWORK_PARTITIONS": "3",
        "PIECEWORK_BROKERS": "3", "PIECEWORK_DATA_DIR": "rel/dir", "PIECEWORK_LOG_LEVEL": "debug",
        "PIECEWORK_METRICS_PORT": "OFF", "PIECEWORK_POWER_CURRENCIES": "EUR, USD",
        "PIECEWORK_CLOCK_SPEED": "600", "PIECEWORK_RATE_LIMIT": "0.5",
        "PIECEWORK_WAGE_FLOOR_MODE": "refuse", "PIECEWORK_URL": "http://api:1/",
    })  # fmt: skip
    assert (s.kafka, s.redis, s.topics, s.partitions, s.brokers) == (
        "k1:9092,k2:9094", "redis://r:6380/3", Topics("t.stack.ab12"), 3, 3)
    assert s.data_dir.is_absolute() and s.data_dir.name == "dir"
    assert (s.log_level, s.metrics_port, s.power_currencies) == ("DEBUG", None, ("EUR", "USD"))
    assert (s.clock_speed, s.rate_limit, s.wage_floor_mode) == (600.0, 0.5, "refuse")
    assert s.api_url == "http://api:1"
    assert Settings(http_port=9).api_url == "http://127.0.0.1:9"


def test_a_blank_value_counts_as_unset() -> None:
    assert Settings.from_env({"PIECEWORK_PARTITIONS": " ", "PIECEWORK_KAFKA": ""}) == Settings()


@pytest.mark.parametrize(("name", "value", "expects"), [
    ("PIECEWORK_PARTITIONS", "abc", "an integer >= 1"),
    ("PIECEWORK_PARTITIONS", "0", "an integer >= 1"),
    ("PIECEWORK_PARTITIONS", "1.5", "an integer >= 1"),
    ("PIECEWORK_BROKERS", "10", "an integer in [1, 9]"),
    ("PIECEWORK_HTTP_PORT", "70000", "an integer in [1, 65535]"),
    ("PIECEWORK_CLOCK_SPEED", "0", "a number > 0"),
    ("PIECEWORK_CLOCK_SPEED", "nan", "a number > 0"),
    ("PIECEWORK_RATE_BURST", "0.5", "a number >= 1"),
    ("PIECEWORK_FEE_BP", "-1", "an integer in [0, 10000]"),
    ("PIECEWORK_WAGE_FLOOR_MODE", "ignore", "one of warn, refuse"),
    ("PIECEWORK_LOG_LEVEL", "LOUD", "one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ("PIECEWORK_METRICS_PORT", "65500", "a port in [1, 65236] or off"),
    ("PIECEWORK_POWER_CURRENCIES", "EUR,JPY", "currency codes separated by commas or spaces"),
    ("PIECEWORK_KAFKA", "host:port", "comma-separated host[:port] addresses"),
    ("PIECEWORK_KAFKA", "a:9092,,b:9092", "comma-separated host[:port] addresses"),
    ("PIECEWORK_REDIS", "127.0.0.1:6379", "a redis://, rediss:// or unix:// URL"),
    ("PIECEWORK_REDIS", "redis://h:port/0", "a redis://, rediss:// or unix:// URL"),
    ("PIECEWORK_URL", "127.0.0.1:8080", "an http:// or https:// URL"),
    ("PIECEWORK_TOPIC_PREFIX", "my topics", "1-200 of the characters A-Z a-z 0-9 . _ -"),
])  # fmt: skip
def test_a_bad_value_is_one_line_naming_variable_value_and_expectation(
    name: str, value: str, expects: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"PIECEWORK_KAFKA": "127.0.0.1:9092", name: value})
    message = str(raised.value)
    assert message.startswith(f"{name} must be {expects}") and message.endswith(f"got {value!r}")
    assert "\n" not in message
    assert isinstance(raised.value, ValueError)  # callers catching ValueError keep working


def test_tokens_stay_out_of_repr() -> None:
    s = Settings.from_env({"PIECEWORK_OPERATOR_TOKEN": "op-secret", "PIECEWORK_TOKEN": "t-secret"})
    assert s.operator_token == "op-secret" and s.token == "t-secret"
    assert "secret" not in repr(s)


def test_the_policy_knobs_default_to_the_domain_policy() -> None:
    # runtime cannot import broker, so the defaults are written twice; this holds them equal.
    domain = policy.Policy()
    assert {k: getattr(domain, k) for k in POLICY_KNOBS} == Settings().policy_knobs()
    assert WAGE_FLOOR_MODES == policy.WAGE_FLOOR_MODES
    built = policy_for(Settings(fee_bp=1_000, wage_floor_mode="refuse", max_batch_tasks=5))
    assert (built.fee_bp, built.wage_floor_mode, built.max_batch_tasks) == (1_000, "refuse", 5)
    assert built.wage_floors == domain.wage_floors


def test_the_payout_settings_default_to_the_payout_policy() -> None:
    assert payout_policy(Settings()) == PayoutPolicy()
    assert payout_policy(Settings(payout_interval_seconds=60)).interval_ms == 60_000


def _product_files() -> list[Path]:
    return [p for top in PRODUCT for p in sorted((REPO / top).rglob("*.py"))]


def test_only_runtime_settings_reads_a_piecework_variable() -> None:
    # A read is a subscript, .get or getenv of a PIECEWORK_ name; naming one in a docstring,
    # a help text or the environment a launcher builds for a child is not.
    read = re.compile(r"""(?:environ|env|getenv)\s*(?:\.get\(|\[|\()\s*["']PIECEWORK_""")
    readers = [str(p.relative_to(REPO)) for p in _product_files() if read.search(p.read_text())]
    assert readers == [], "read PIECEWORK_* through runtime.settings.Settings instead"


def _names(files: list[Path]) -> set[tuple[str, str]]:
    return {(m, str(p.relative_to(REPO))) for p in files for m in NAME.findall(p.read_text())}


def test_every_variable_the_product_or_its_docs_name_is_a_setting() -> None:
    # The tests' own knobs (PIECEWORK_TEST_PATIENCE_S, ...) are theirs, documented or not.
    test_knobs = {name for name, _ in _names(sorted((REPO / "testkit").rglob("*.py"))
                                             + sorted((REPO / "tests").rglob("*.py")))}
    docs = _names([REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))])
    named = _names(_product_files()) | {(n, w) for n, w in docs if n not in test_knobs}
    unknown = sorted((name, where) for name, where in named if name not in variables())
    assert unknown == [], "named but not in runtime.settings.Settings"


def test_every_field_is_documented_in_its_metadata() -> None:
    for f in dataclasses.fields(Settings):
        assert NAME.fullmatch(f.metadata["env"]) and f.metadata["meaning"], f.name
    assert len(variables()) == len(dataclasses.fields(Settings))


def test_docs_settings_md_is_generated_from_the_code() -> None:
    committed = settings_doc.page().read_text(encoding="utf-8")
    assert committed == settings_doc.render(), (
        f"docs/SETTINGS.md is out of date; regenerate it: {settings_doc.COMMAND}")
    for row in settings_doc.rows():
        assert row[0] in committed
