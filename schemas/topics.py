"""piecework's topics: their names and the settings each must have. The one definition.

Part of the contract, so every side names a topic the same way: the write side, the
views, the audit, topic creation (`deploy.topics`) and the tests. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "piecework"


@dataclass(frozen=True)
class Topics:
    """Topic names. A prefix other than 'piecework' isolates tests and demos on one broker."""

    prefix: str = DEFAULT_PREFIX

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

    @property
    def checkpoints(self) -> str:
        """Signed checkpoints of the events topic's chains (docs/AUDIT.md); partition 0."""
        return f"{self.prefix}.checkpoints"

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
            self.checkpoints: {"retention.ms": "-1"},
        }
