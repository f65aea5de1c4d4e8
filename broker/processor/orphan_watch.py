"""Rejoin the group when nobody in it owns a commands partition (the first-join stall).

Seen in CI: a processor joined its group, the leader found "No partition metadata for
topic ...commands" and assigned nothing, and kafka-python never rejoined: every command
waited 300 s and was answered 503. A standby instance (more instances than partitions)
also owns nothing, and must not force a rebalance of the busy ones, so the watch asks the
group coordinator how many partitions the whole group owns and rejoins only when it is
fewer than the topic has.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

log = logging.getLogger(__name__)

# How long an instance may own nothing before it asks: a normal join takes a few seconds.
GRACE_S = 30.0


def owned_partitions(description: Mapping[str, Any], topic: str) -> set[int]:
    """The partitions of `topic` some member of the described group holds."""
    owned: set[int] = set()
    for member in description.get("members") or ():
        assignment = member.get("member_assignment") or {}
        for part in assignment.get("assigned_partitions") or ():
            if part.get("topic") == topic:
                owned.update(part.get("partitions") or ())
    return owned


class OrphanWatch:
    """Says when this instance should rejoin: it has owned nothing for GRACE_S and the
    group leaves some of the topic's partitions with nobody."""

    def __init__(self, bootstrap: str, group: str, topic: str, grace_s: float = GRACE_S) -> None:
        self.bootstrap, self.group, self.topic, self.grace_s = bootstrap, group, topic, grace_s
        self.idle_since: float | None = None

    def should_rejoin(self, owns_any: bool, partitions: int, now: float) -> bool:
        if owns_any or partitions == 0:
            self.idle_since = None
            return False
        if self.idle_since is None:
            self.idle_since = now
        if now - self.idle_since < self.grace_s:
            return False
        self.idle_since = now  # ask again only after another grace period
        owned = self._owned_by_group()
        if owned is None or len(owned) >= partitions:
            return False
        log.warning("group %s owns %d of %d partitions of %s after %.0f s: rejoining",
                    self.group, len(owned), partitions, self.topic, self.grace_s)
        return True

    def _owned_by_group(self) -> set[int] | None:
        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap,
                                     client_id=f"{self.group}-watch")
            try:
                described = admin.describe_groups([self.group])
            finally:
                admin.close()
        except KafkaError as exc:
            log.warning("could not describe group %s: %r", self.group, exc)
            return None
        return owned_partitions(described.get(self.group) or {}, self.topic)
