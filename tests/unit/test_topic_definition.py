"""Topics and their settings are defined once (schemas.topics.Topics), prefix and all.

Two definitions used to disagree: `up` made the dead-letter topic with a 7-day retention
while the design (and Topics) said infinite.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import deploy.topics
from schemas.topics import Topics


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """What ensure_topics asks the broker for, without a broker."""
    calls: list[tuple[str, Any]] = []

    def create(bootstrap: str, topics: Any, partitions: int) -> dict[str, int]:
        calls.append(("create", dict(topics)))
        return dict.fromkeys(topics, partitions)

    def correct(bootstrap: str, topics: Any) -> dict:
        calls.append(("correct", dict(topics)))
        return {}

    monkeypatch.setattr(deploy.topics, "create_topics", create)
    monkeypatch.setattr(deploy.topics, "correct_configs", correct)
    return calls


def test_ensure_topics_creates_and_corrects_exactly_the_definition(applied) -> None:
    ensured = deploy.topics.ensure_topics("kafka:9092", 3, Topics("demo-1"))
    wanted = Topics("demo-1").creation_configs()
    assert applied == [("create", wanted), ("correct", wanted)]
    assert ensured.partitions == dict.fromkeys(wanted, 3)


def test_the_prefix_comes_from_the_environment(applied, monkeypatch) -> None:
    monkeypatch.setenv("PIECEWORK_TOPIC_PREFIX", "elsewhere")
    monkeypatch.setenv("PIECEWORK_PARTITIONS", "2")
    deploy.topics.main()  # docker-compose's init step
    assert set(applied[0][1]) == {"elsewhere.commands", "elsewhere.events",
                                  "elsewhere.replies", "elsewhere.dead-letter",
                                  "elsewhere.checkpoints"}


def test_the_definition_keeps_the_log_and_the_dead_letters_forever() -> None:
    configs = Topics("p").creation_configs()
    assert configs["p.events"]["retention.ms"] == "-1"
    assert configs["p.dead-letter"]["retention.ms"] == "-1"


def test_deploy_topics_names_no_topic_and_no_setting_of_its_own() -> None:
    source = inspect.getsource(deploy.topics)
    assert "piecework." not in source and "retention.ms" not in source
    assert not hasattr(deploy.topics, "PIECEWORK_TOPICS")
