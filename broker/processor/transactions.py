"""kafka-python's transactional calls, with a bound on the wait.

`send_offsets_to_transaction`, `commit_transaction` and `abort_transaction` wait for ever.
With kafka-python 3.0.12, when the broker hosting the transaction coordinator is killed,
the pending request may never be sent again and the processor hangs (found by
tests/e2e/test_cluster_failover.py; reproduced every time by killing the coordinator's
node). These do what those methods do, bounded: the KafkaTimeoutError lets the processor
replace its producer, whose init_transactions aborts the stuck transaction.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

# Past the transaction timeout (15 s): by then the coordinator gave up on it as well, and
# a dead coordinator's broker was fenced (9 s) and replaced.
CALL_SECONDS = 20.0


def _bounded(producer: KafkaProducer, result: Any, what: str) -> None:
    producer._sender.wakeup()
    if not result.wait(timeout_ms=CALL_SECONDS * 1000):
        raise KafkaTimeoutError(f"{what} still pending after {CALL_SECONDS:.0f} s")


def send_offsets(producer: KafkaProducer, offsets: dict, group_metadata: Any) -> None:
    manager = producer._transaction_manager
    _bounded(producer, manager.send_offsets_to_transaction(offsets, group_metadata),
             "send_offsets_to_transaction")


def commit(producer: KafkaProducer) -> None:
    _bounded(producer, producer._transaction_manager.begin_commit(), "commit_transaction")


def abort(producer: KafkaProducer) -> None:
    _bounded(producer, producer._transaction_manager.begin_abort(), "abort_transaction")


def discard(producer: KafkaProducer) -> None:
    """Close a stuck producer for good: `close()` flushes first, which a stuck producer
    cannot do, so it raises and never stops its sender. Force that first."""
    if producer._sender is not None:
        producer._sender.force_close()  # fails the pending batches: nothing is waited on
    with suppress(KafkaError):
        producer.close(timeout=1)
