"""piecework's topics, created idempotently (the broker does not auto-create: typos fail).

Which topics exist and which settings they need is defined once, by
`schemas.topics.Topics.creation_configs` (prefix-aware). This module only applies it:
`create_topics` makes the missing ones, `correct_configs` sets what an existing topic
has wrong (say a dead-letter topic made with the broker's 7-day retention), and
`ensure_topics` does both for `piecework up`, `piecework serve` and docker-compose.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

import kafka.errors as errors
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from schemas.topics import Topics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnsuredTopics:
    partitions: dict[str, int]  # name -> partition count
    # name -> {setting: (what the broker had, what it has now)}; empty when all agreed
    corrected: dict[str, dict[str, tuple[str | None, str]]] = field(default_factory=dict)


def create_topics(
    bootstrap: str, topics: Mapping[str, Mapping[str, str]], partitions: int
) -> dict[str, int]:
    """Create the missing topics; return {name: partition count} for all of them.

    An existing topic is left as it is (its partition count is reported, not changed;
    `correct_configs` fixes its settings).
    """
    with KafkaAdminClient(bootstrap_servers=bootstrap, client_id="piecework-topics") as admin:
        existing = set(admin.list_topics())
        missing = {
            # replication_factor -1: the broker's default (1 locally, the cluster's elsewhere).
            name: {"num_partitions": partitions, "replication_factor": -1, "configs": dict(cfg)}
            for name, cfg in topics.items()
            if name not in existing
        }
        if missing:
            result = admin.create_topics(missing, raise_errors=False)
            for topic in result["topics"]:
                error = errors.for_code(topic["error_code"])
                # Another process may have created it between our list and create.
                if error not in (errors.NoError, errors.TopicAlreadyExistsError):
                    raise error(f"creating {topic['name']}: {topic.get('error_message')}")
        admin.wait_for_topics(list(topics), timeout_ms=30_000)
        described = admin.describe_topics(list(topics))
    return {t["name"]: len(t["partitions"]) for t in described}


def correct_configs(
    bootstrap: str, topics: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, tuple[str | None, str]]]:
    """Set every listed setting an existing topic has a different value for.

    Only the listed keys are compared and set (IncrementalAlterConfigs SET), so anything
    else an operator tuned on the topic stays. Returns what changed, as in EnsuredTopics.
    """
    wanted = {name: dict(cfg) for name, cfg in topics.items() if cfg}
    if not wanted:
        return {}
    with KafkaAdminClient(bootstrap_servers=bootstrap, client_id="piecework-topics") as admin:
        current = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, n, list(cfg)) for n, cfg in wanted.items()],
            config_filter="all",  # a key at the broker's default is reported too
        ).get("topic", {})
        changes: dict[str, dict[str, tuple[str | None, str]]] = {}
        for name, cfg in wanted.items():
            have = current.get(name, {})
            diff = {k: (have.get(k, {}).get("value"), v) for k, v in cfg.items()
                    if have.get(k, {}).get("value") != v}
            if diff:
                changes[name] = diff
        if changes:
            result = admin.alter_configs([
                ConfigResource(ConfigResourceType.TOPIC, name, {k: v for k, (_, v) in d.items()})
                for name, d in changes.items()
            ])
            failed = {n: r for n, r in result.get("topic", {}).items() if r != "OK"}
            if failed:
                raise errors.KafkaError(f"correcting topic settings failed: {failed}")
    for name, diff in changes.items():
        log.info("topic %s: corrected %s", name,
                    ", ".join(f"{k} {old} -> {new}" for k, (old, new) in diff.items()))
    return changes


def ensure_topics(bootstrap: str, partitions: int, topics: Topics) -> EnsuredTopics:
    """Create piecework's topics if missing and correct the settings of existing ones."""
    configs = topics.creation_configs()
    counts = create_topics(bootstrap, configs, partitions)
    return EnsuredTopics(counts, correct_configs(bootstrap, configs))


def main() -> None:
    """`python -m deploy.topics`: the docker-compose init step (its composition root)."""
    from deploy.cli import EXIT_SETTINGS, read_settings

    settings = read_settings()
    if settings is None:
        sys.exit(EXIT_SETTINGS)
    ensured = ensure_topics(settings.kafka, settings.partitions, settings.topics)
    for name, count in ensured.partitions.items():
        fixed = ensured.corrected.get(name, {})
        note = "".join(f", {k} {old} -> {new}" for k, (old, new) in fixed.items())
        print(f"{name}: {count} partitions{note}")


if __name__ == "__main__":
    main()
