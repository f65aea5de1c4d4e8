"""The processor takes its partitions when the commands topic appears after it joined,
and the orphan watch reads the group's real ownership from the coordinator.

In CI a processor once joined its group, the leader logged "No partition metadata for
topic ...commands" and assigned nothing, and nothing rejoined for 300 s. That exact race
did not reproduce here (this test passes with and without the fixes); it covers the
nearest path we can force (join first, create the topic second), and the orphan watch
(broker/processor/orphan_watch.py, unit-tested in tests/unit/test_orphan_watch.py) is the
guard for the path we cannot.
"""

from __future__ import annotations

import time

from broker.processor.orphan_watch import OrphanWatch
from deploy.topics import create_topics
from tests.live_write_side import settings_for, start_processor

# Far below the 300 s the stall lasted, far above the 5 s refresh: a busy machine passes,
# the old behaviour cannot.
DEADLINE_S = 120.0


def test_a_processor_that_joined_before_its_topic_existed_takes_the_partitions(
    kafka_bootstrap: str, redis_url: str, unique_name: str
) -> None:
    settings = settings_for(kafka_bootstrap, redis_url, unique_name, partitions=2)
    processor, stop, thread = start_processor(settings, f"{unique_name}-0")
    try:
        joined = time.monotonic() + 60
        while not processor.consumer.subscription() and time.monotonic() < joined:
            time.sleep(0.2)
        time.sleep(3)  # a few polls: the group forms with no metadata for the topic
        assert not processor.states, "owned partitions of a topic that does not exist yet"
        create_topics(settings.kafka, settings.topics.creation_configs(), settings.partitions)
        created = time.monotonic()
        while len(processor.states) < 2 and time.monotonic() - created < DEADLINE_S:
            time.sleep(0.5)
        assert sorted(processor.states) == [0, 1], (
            f"after {time.monotonic() - created:.0f} s the processor owns "
            f"{sorted(processor.states)} of the 2 partitions")
        watch = OrphanWatch(settings.kafka, processor.orphans.group, settings.topics.commands)
        assert watch._owned_by_group() == {0, 1}
    finally:
        stop.set()
        thread.join(timeout=30)
