"""piecework's topics, created idempotently (the broker does not auto-create: typos fail)."""

from __future__ import annotations

from collections.abc import Mapping

import kafka.errors as errors
from kafka.admin import KafkaAdminClient

from deploy import settings as stack_settings

# The event log is the truth: never deleted by age. The others keep broker defaults.
PIECEWORK_TOPICS: dict[str, dict[str, str]] = {
    "piecework.commands": {},
    "piecework.events": {"retention.ms": "-1"},
    "piecework.replies": {},
    "piecework.dead-letter": {},
}


def create_topics(
    bootstrap: str, topics: Mapping[str, Mapping[str, str]], partitions: int
) -> dict[str, int]:
    """Create the missing topics; return {name: partition count} for all of them.

    An existing topic is left as it is (its partition count is reported, not changed).
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


def ensure_topics(bootstrap: str, partitions: int | None = None) -> dict[str, int]:
    """piecework.commands/events/replies/dead-letter; partitions default PIECEWORK_PARTITIONS."""
    if partitions is None:
        partitions = stack_settings.from_env().partitions
    return create_topics(bootstrap, PIECEWORK_TOPICS, partitions)


def main() -> None:
    """`python -m deploy.topics`: the docker-compose init step."""
    cfg = stack_settings.from_env()
    for name, count in ensure_topics(cfg.kafka_bootstrap, cfg.partitions).items():
        print(f"{name}: {count} partitions")


if __name__ == "__main__":
    main()
