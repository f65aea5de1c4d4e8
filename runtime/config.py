"""Runtime settings of piecework processes, read from the environment at the edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from broker.domain.policy import Policy
from runtime.clock import Clock, clock_for


@dataclass(frozen=True)
class Topics:
    """Topic names. A prefix other than 'piecework' isolates tests and demos on one broker."""

    prefix: str = "piecework"

    @property
    def commands(self) -> str:
        return f"{self.prefix}.commands"

    @property
    def events(self) -> str:
        return f"{self.prefix}.events"

    @property
    def replies(self) -> str:
        return f"{self.prefix}.replies"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}.dead-letter"

    def creation_configs(self) -> dict[str, dict[str, str]]:
        """Every topic and the settings it must have: the one definition, used to create
        topics (`up`, `serve`, docker-compose, tests) and to correct existing ones (`up`).

        The event log is the system of record and a dead letter is evidence for the audit:
        neither is ever deleted by age. Commands and replies keep the broker's defaults.
        """
        return {
            self.commands: {},
            self.events: {"retention.ms": "-1"},
            self.replies: {},
            self.dead_letter: {"retention.ms": "-1"},
        }


@dataclass(frozen=True)
class Settings:
    kafka: str = "127.0.0.1:9092"
    redis: str = "redis://127.0.0.1:6379/0"
    topics: Topics = field(default_factory=Topics)
    partitions: int = 8
    http_port: int = 8080
    # 1.0 is real time; 3600 runs an hour of marketplace time per second (simulation only).
    clock_speed: float = 1.0
    clock_origin_ms: int = 0

    def clock(self) -> Clock:
        return clock_for(self.clock_speed, self.clock_origin_ms)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            kafka=env.get("PIECEWORK_KAFKA", cls.kafka),
            redis=env.get("PIECEWORK_REDIS", cls.redis),
            topics=Topics(env.get("PIECEWORK_TOPIC_PREFIX", "piecework")),
            partitions=int(env.get("PIECEWORK_PARTITIONS", cls.partitions)),
            http_port=int(env.get("PIECEWORK_HTTP_PORT", cls.http_port)),
            clock_speed=float(env.get("PIECEWORK_CLOCK_SPEED", cls.clock_speed)),
            clock_origin_ms=int(env.get("PIECEWORK_CLOCK_ORIGIN_MS", 0)),
        )


def policy_from_env(env: Mapping[str, str] | None = None) -> Policy:
    """Platform policy knobs; unset ones keep the MTurk-like defaults of Policy."""
    env = os.environ if env is None else env
    knobs = {
        "fee_bp": "PIECEWORK_FEE_BP",
        "bulk_fee_bp": "PIECEWORK_BULK_FEE_BP",
        "bonus_fee_bp": "PIECEWORK_BONUS_FEE_BP",
        "max_batch_tasks": "PIECEWORK_MAX_BATCH_TASKS",
    }
    values: dict[str, object] = {k: int(env[v]) for k, v in knobs.items() if v in env}
    if "PIECEWORK_WAGE_FLOOR_MODE" in env:
        values["wage_floor_mode"] = env["PIECEWORK_WAGE_FLOOR_MODE"]
    return Policy(**values)
