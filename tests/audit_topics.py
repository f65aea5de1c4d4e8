"""Clean-up for the audit's broker tests: they create whole deployments of topics."""

from __future__ import annotations

from kafka.admin import KafkaAdminClient


def drop_topics(bootstrap: str, prefix: str) -> None:
    """Delete every topic of the deployments whose prefix starts with `prefix`."""
    with KafkaAdminClient(bootstrap_servers=bootstrap, client_id="piecework-tests") as admin:
        mine = [t for t in admin.list_topics() if t.startswith(f"{prefix}.")]
        if mine:
            admin.delete_topics(mine, raise_errors=False)
