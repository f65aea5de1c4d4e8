"""`piecework up` makes the broker's topics agree with the one definition of their settings.

A dead-letter topic created with the broker's default retention (7 days) silently drops
the evidence the audit needs; `up` must notice and set it back to infinite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from deploy.topics import create_topics, ensure_topics
from schemas.topics import Topics

SEVEN_DAYS_MS = "604800000"


def retention(bootstrap: str, *names: str) -> dict[str, str]:
    with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        found = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, n, ["retention.ms"]) for n in names],
            config_filter="all",
        )["topic"]
    return {n: found[n]["retention.ms"]["value"] for n in names}


@pytest.fixture
def topics(kafka_bootstrap: str, unique_name: str) -> Iterator[Topics]:
    """A prefix of this test's own, with events and dead letters made the wrong way."""
    mine = Topics(unique_name)
    wrong = {mine.events: {"retention.ms": "3600000"},
             mine.dead_letter: {"retention.ms": SEVEN_DAYS_MS}}
    create_topics(kafka_bootstrap, wrong, 1)
    yield mine
    with KafkaAdminClient(bootstrap_servers=kafka_bootstrap) as admin:
        admin.delete_topics(list(mine.creation_configs()), raise_errors=False)


def test_piecework_up_corrects_the_retention_of_existing_topics(
    kafka_bootstrap: str, redis_url: str, topics: Topics
) -> None:
    assert retention(kafka_bootstrap, topics.dead_letter) == {topics.dead_letter: SEVEN_DAYS_MS}
    env = {**os.environ, "PIECEWORK_KAFKA": kafka_bootstrap, "PIECEWORK_REDIS": redis_url,
           "PIECEWORK_TOPIC_PREFIX": topics.prefix, "PIECEWORK_PARTITIONS": "1"}
    done = subprocess.run([sys.executable, "-m", "deploy.cli", "up"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"corrected {topics.dead_letter}" in " ".join(done.stdout.split()), done.stdout
    assert retention(kafka_bootstrap, topics.events, topics.dead_letter) == {
        topics.events: "-1", topics.dead_letter: "-1"}


def test_ensure_topics_creates_the_missing_and_corrects_once(
    kafka_bootstrap: str, topics: Topics
) -> None:
    first = ensure_topics(kafka_bootstrap, 1, topics)
    assert set(first.partitions) == set(topics.creation_configs())
    assert first.corrected == {topics.events: {"retention.ms": ("3600000", "-1")},
                               topics.dead_letter: {"retention.ms": (SEVEN_DAYS_MS, "-1")}}
    # The ones it created got the definition's settings at birth: nothing more to correct.
    assert ensure_topics(kafka_bootstrap, 1, topics).corrected == {}
    assert retention(kafka_bootstrap, topics.dead_letter) == {topics.dead_letter: "-1"}
