"""Invariant 5: an event record that does not decode was dead-lettered, not dropped.

The views worker reads every record of the events topic; one it cannot decode must have
a dead letter naming its topic, partition and offset.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable


def check(
    undecodable: Iterable[tuple[int, int]],
    dead_letters: Collection[tuple[str, int, int]],
    topic: str,
) -> list[str]:
    """`undecodable` (partition, offset) pairs of `topic`; `dead_letters` (topic, p, o) origins."""
    return [
        f"undecodable event at {topic} {p}/{o} has no dead letter"
        for p, o in undecodable
        if (topic, p, o) not in dead_letters
    ]
