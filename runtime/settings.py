"""Every PIECEWORK_* variable piecework reads, read once per process, checked, typed.

The composition roots (`deploy/cli`, `python -m deploy.topics`, bench) call
`Settings.from_env()` once and pass the object down; no other module reads the
environment for a setting. Each field carries its variable, parser, default and
meaning, from which docs/SETTINGS.md is generated (runtime/settings_doc.py, held in sync
by a test). A bad value ends in one SettingsError line naming the variable, the value and
what it must be. An empty value counts as unset: `PIECEWORK_PARTITIONS= piecework up`
uses the default.

Policy knobs are plain values here: runtime sits below broker, so the composition root
builds broker.domain.policy.Policy from `policy_knobs()` (deploy/policy.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from runtime import setting_types as t
from runtime.clock import Clock, clock_for
from runtime.event_loop import EVENT_LOOPS
from schemas.topics import Topics

MAX_BROKERS = 9
# Roles offset the metrics base port by up to 200 + 99 instances (runtime.metrics_server).
MAX_METRICS_BASE = 65535 - 299
LOG_FORMATS = ("text", "json")  # runtime.logs
WAGE_FLOOR_MODES = ("warn", "refuse")  # broker.domain.policy's; a unit test holds them equal
# Behind broker.processor.kafka_port: the processor's Kafka client.
PROCESSOR_CLIENTS = ("kafka-python", "confluent-kafka")
POLICY_KNOBS = ("fee_bp", "bulk_fee_bp", "bonus_fee_bp", "max_batch_tasks", "wage_floor_mode")


class SettingsError(ValueError):
    """A PIECEWORK_* variable with a value piecework cannot use; the message is one line."""


def repo_root() -> Path | None:
    """The source checkout this package runs from, if any (an installed copy has none)."""
    candidate = Path(__file__).resolve().parent.parent
    return candidate if (candidate / "pyproject.toml").is_file() else None


def default_data_dir() -> Path:
    root = repo_root()
    return (root if root else Path.cwd()) / "var"


def about(env: str, parse: t.Parser[Any], meaning: str, shown: str | None = None
          ) -> dict[str, Any]:  # fmt: skip
    """A field's metadata: its variable, how its text is read, what it means; `shown` is
    the default as docs/SETTINGS.md prints it, where the value itself would mislead."""
    return {"env": env, "parse": parse, "meaning": meaning, "shown": shown}


def _flag(raw: str) -> bool:
    if raw not in ("0", "1"):
        raise ValueError(raw)
    return raw == "1"


@dataclass(frozen=True)
class Settings:
    """One process's settings. Secrets (the tokens) stay out of repr(), so logging the
    settings never logs a token."""

    # fmt: off
    # --- where the deployment lives
    kafka: str = field(default="127.0.0.1:9092", metadata=about(
        "PIECEWORK_KAFKA", t.kafka_addresses(),
        "Kafka bootstrap servers; `piecework up` starts a local Kafka there if none answers"))
    redis: str = field(default="redis://127.0.0.1:6379/0", metadata=about(
        "PIECEWORK_REDIS", t.redis_url(),
        "Redis of the views, API tokens and idempotency records; `up` starts a local one"))
    topics: Topics = field(default=Topics(), metadata=about(
        "PIECEWORK_TOPIC_PREFIX", t.topic_prefix(Topics),
        "Topic name prefix (`<prefix>.events`, ...); another prefix isolates a deployment"))
    partitions: int = field(default=8, metadata=about(
        "PIECEWORK_PARTITIONS", t.integer(1),
        "Partitions of every topic it creates: how far processors and views scale out"))
    processor_client: str = field(default="confluent-kafka", metadata=about(
        "PIECEWORK_PROCESSOR_CLIENT", t.choice(*PROCESSOR_CLIENTS),
        "Kafka client of the command processor's loop: confluent-kafka (librdkafka, a third"
        " of the CPU per claim), or kafka-python (docs/DESIGN.md)"))
    brokers: int | None = field(default=None, metadata=about(
        "PIECEWORK_BROKERS", t.integer(1, MAX_BROKERS),
        "Kafka nodes `up` starts (`--brokers` wins); unset: what the data dir holds, else 1"))
    data_dir: Path = field(default_factory=default_data_dir, metadata=about(
        "PIECEWORK_DATA_DIR", t.directory(),
        "Files of the local Kafka and Redis (`up`), pid files, logs, the views' Faust state",
        shown="`var/` of the checkout, else of the working directory"))
    log_level: str = field(default="INFO", metadata=about(
        "PIECEWORK_LOG_LEVEL", t.choice(*t.LOG_LEVELS, fold=str.upper),
        "Log level of every process role"))
    log_format: str = field(default="text", metadata=about(
        "PIECEWORK_LOG_FORMAT", t.choice(*LOG_FORMATS),
        "Log lines as text or one JSON object each (time, level, role, logger, correlation id)"))
    access_log: bool = field(default=False, metadata=about(
        "PIECEWORK_ACCESS_LOG", t.Parser("0 or 1", _flag),
        "1: the API logs a line per HTTP request (aiohttp's access log)", shown="`0`"))
    event_loop: str = field(default="asyncio", metadata=about(
        "PIECEWORK_EVENT_LOOP", t.choice(*EVENT_LOOPS),
        "Event loop of the API, views and webhook processes (bench/uvloop_compare.py)"))
    # --- the API
    http_host: str = field(default="127.0.0.1", metadata=about(
        "PIECEWORK_HTTP_HOST", t.text("a host name or address"),
        "Address the API listens on"))
    http_port: int = field(default=8080, metadata=about(
        "PIECEWORK_HTTP_PORT", t.integer(1, 65535),
        "Port of the API and its /metrics; the client commands call it"))
    operator_token: str | None = field(default=None, repr=False, metadata=about(
        "PIECEWORK_OPERATOR_TOKEN", t.text(),
        "Operator token the API installs at start-up; `piecework token` falls back to it"))
    rate_limit: float = field(default=500.0, metadata=about(
        "PIECEWORK_RATE_LIMIT", t.number(0),
        "Requests per second one actor may make, per API process (429 beyond)"))
    rate_burst: float = field(default=1000.0, metadata=about(
        "PIECEWORK_RATE_BURST", t.number(1, strict=False),
        "Requests one actor may make at once before the rate applies"))
    max_body_bytes: int = field(default=16 * 1024 * 1024, metadata=about(
        "PIECEWORK_MAX_BODY_BYTES", t.integer(1),
        "Largest request body the API reads, in bytes (413 beyond)"))
    # --- the client commands (post, ledger, actor, token, simulate)
    url: str | None = field(default=None, metadata=about(
        "PIECEWORK_URL", t.http_url(),
        "API the client commands call", shown="`http://127.0.0.1:$PIECEWORK_HTTP_PORT`"))
    token: str | None = field(default=None, repr=False, metadata=about(
        "PIECEWORK_TOKEN", t.text(),
        "API token of the client commands (`--token` wins)"))
    # --- time
    clock_speed: float = field(default=1.0, metadata=about(
        "PIECEWORK_CLOCK_SPEED", t.number(0),
        "Marketplace seconds per wall second (simulations: 600); all roles must agree"))
    clock_origin_ms: int = field(default=0, metadata=about(
        "PIECEWORK_CLOCK_ORIGIN_MS", t.integer(0),
        "Wall instant (ms) a scaled clock starts from; 0: `serve` sets its own start time"))
    # --- platform policy (broker.domain.policy.Policy)
    fee_bp: int = field(default=2_000, metadata=about(
        "PIECEWORK_FEE_BP", t.integer(0, 10_000),
        "Platform fee on rewards, in basis points (2000 = 20 %)"))
    bulk_fee_bp: int = field(default=2_000, metadata=about(
        "PIECEWORK_BULK_FEE_BP", t.integer(0, 10_000),
        "Extra fee on tasks of ten or more assignments, in basis points"))
    bonus_fee_bp: int = field(default=2_000, metadata=about(
        "PIECEWORK_BONUS_FEE_BP", t.integer(0, 10_000),
        "Platform fee on bonuses, in basis points"))
    max_batch_tasks: int = field(default=10_000, metadata=about(
        "PIECEWORK_MAX_BATCH_TASKS", t.integer(1),
        "Most tasks one posted batch may hold"))
    wage_floor_mode: str = field(default="warn", metadata=about(
        "PIECEWORK_WAGE_FLOOR_MODE", t.choice(*WAGE_FLOOR_MODES),
        "A task paying below its currency's hourly wage floor is flagged or refused"))
    # --- payouts (the timer role)
    payout_threshold: int = field(default=1_000_000, metadata=about(
        "PIECEWORK_PAYOUT_THRESHOLD", t.integer(1),
        "Wallet balance, in micro-units, from which a payout run pays a worker"))
    payout_interval_seconds: int = field(default=86_400, metadata=about(
        "PIECEWORK_PAYOUT_INTERVAL_SECONDS", t.integer(1),
        "Marketplace seconds between payout runs"))
    # --- signed checkpoints of the log (the timer role, docs/AUDIT.md)
    checkpoint_key: str | None = field(default=None, metadata=about(
        "PIECEWORK_CHECKPOINT_KEY", t.text("a path"),
        "Ed25519 private key (PEM, `piecework keygen`) the timer signs checkpoints with; "
        "unset: none"))
    checkpoint_seconds: int = field(default=3_600, metadata=about(
        "PIECEWORK_CHECKPOINT_SECONDS", t.integer(1),
        "Wall seconds between two signed checkpoints"))
    # --- webhooks (the API's /v1/webhooks and the webhooks role)
    webhook_allow_private: bool = field(default=False, metadata=about(
        "PIECEWORK_WEBHOOK_ALLOW_PRIVATE", t.Parser("0 or 1", _flag),
        "1: webhooks may target loopback, private and link-local addresses (tests, demo)",
        shown="`0`"))
    webhook_max_per_actor: int = field(default=10, metadata=about(
        "PIECEWORK_WEBHOOK_MAX_PER_ACTOR", t.integer(1, 1_000),
        "Webhooks one actor may hold (409 beyond)"))
    webhook_max_failures: int = field(default=8, metadata=about(
        "PIECEWORK_WEBHOOK_MAX_FAILURES", t.integer(1, 100),
        "Consecutive failed deliveries after which a webhook is disabled"))
    webhook_retry_base_ms: int = field(default=5_000, metadata=about(
        "PIECEWORK_WEBHOOK_RETRY_BASE_MS", t.integer(1),
        "Longest wait before the first retry, ms; each further one may wait 6 times longer"))
    webhook_retry_cap_ms: int = field(default=36_000_000, metadata=about(
        "PIECEWORK_WEBHOOK_RETRY_CAP_MS", t.integer(1),
        "Longest wait between two attempts, ms (10 h); full jitter draws below it"))
    webhook_timeout_ms: int = field(default=10_000, metadata=about(
        "PIECEWORK_WEBHOOK_TIMEOUT_MS", t.integer(1, 600_000),
        "How long one delivery may take, connection and response included, ms"))
    webhook_poll_ms: int = field(default=1_000, metadata=about(
        "PIECEWORK_WEBHOOK_POLL_MS", t.integer(1, 600_000),
        "The sender re-reads an idle feed this often, ms, if no wake-up came (a missed one)"))
    # --- metrics
    metrics_host: str = field(default="127.0.0.1", metadata=about(
        "PIECEWORK_METRICS_HOST", t.text("a host name or address"),
        "Address the processor, views and timers serve /metrics on"))
    metrics_port: int | None = field(default=9300, metadata=about(
        "PIECEWORK_METRICS_PORT", t.port_or_off(MAX_METRICS_BASE),
        "Base /metrics port: processor-N base+N, views-N +100+N, timers +200; off: none"))
    metrics_instance_ports: bool = field(default=True, metadata=about(
        "PIECEWORK_METRICS_INSTANCE_PORTS", t.Parser("0 or 1", _flag),
        "1: a processor or views instance N serves /metrics on its role's port + N (many on"
        " one host); 0: on its role's port whatever its id (one per container)",
        shown="`1`"))
    ready_max_lag: int = field(default=10_000, metadata=about(
        "PIECEWORK_READY_MAX_LAG", t.integer(0),
        "/readyz fails while the slowest view is more events-log records behind than this"))
    power_currencies: tuple[str, ...] = field(default=(), metadata=about(
        "PIECEWORK_POWER_CURRENCIES", t.currencies(),
        "Currencies the power metrics always report; unset: each once money moves in it"))
    power_top_k: int = field(default=10, metadata=about(
        "PIECEWORK_POWER_TOP_K", t.integer(1),
        "Requesters the power metrics name in their per-requester series"))
    # --- local tools
    demo_redis_db: int = field(default=1, metadata=about(
        "PIECEWORK_DEMO_REDIS_DB", t.integer(0),
        "Redis database `piecework demo` empties and uses"))
    bench_redis_db: int = field(default=9, metadata=about(
        "PIECEWORK_BENCH_REDIS_DB", t.integer(0),
        "Redis database the benchmarks (bench/) empty and use"))
    # fmt: on

    def clock(self) -> Clock:
        return clock_for(self.clock_speed, self.clock_origin_ms)

    @property
    def api_url(self) -> str:
        return self.url or f"http://127.0.0.1:{self.http_port}"

    def policy_knobs(self) -> dict[str, Any]:
        """Policy(**knobs) in the composition root; the rest of Policy keeps its defaults."""
        return {name: getattr(self, name) for name in POLICY_KNOBS}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every PIECEWORK_* variable of `env` (default: the process environment)."""
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            name, parse = f.metadata["env"], f.metadata["parse"]
            raw = env.get(name)
            if raw is None or not raw.strip():
                continue
            try:
                values[f.name] = parse(raw)
            except ValueError:
                raise SettingsError(f"{name} must be {parse.expects}, got {raw!r}") from None
        return cls(**values)


def variables() -> dict[str, str]:
    """Variable name -> field name, for every setting."""
    return {f.metadata["env"]: f.name for f in fields(Settings)}
