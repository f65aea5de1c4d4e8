"""The processor's Kafka, as the processor needs it: a small port, two clients behind it.

`broker.processor.service` decides, chains, dead-letters and recovers; everything it asks
of Kafka goes through these two objects, so the client is a setting
(PIECEWORK_PROCESSOR_CLIENT): kafka-python (`port_kafka_python`) or confluent-kafka, on
librdkafka (`port_confluent`). No client is imported here.

The consumer owns one topic (the commands) in a group, reading committed records only,
never committing by itself. A partition it is assigned is paused before the processor
hears of it, and stays paused until the processor has rebuilt its aggregates and resumes
it: the group's heartbeat goes on meanwhile.

The producer writes one transaction at a time. A failed call raises KafkaCallError, which
says what the processor does next: abort and replay (transient), count a fencing, or
replace the producer without waiting on it (stuck). A record the broker refused for good
is named per send (`refusal`), so the processor refuses that command instead of retrying.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from runtime.settings import PROCESSOR_CLIENTS

# The processor's Kafka settings, one place for both clients.
SESSION_TIMEOUT_MS = 10_000  # a killed instance's partitions move after 10 s, not 45 s
HEARTBEAT_INTERVAL_MS = 2_000
MAX_POLL_INTERVAL_MS = 600_000
MAX_POLL_RECORDS = 1_000
FETCH_MAX_WAIT_MS = 50
# A group that formed before the broker's metadata listed the commands topic got an empty
# assignment, and only a refresh that shows the partitions makes the leader rejoin: at the
# 5-minute default the processor sat idle for 300 s in CI (the "No partition metadata" stall).
METADATA_MAX_AGE_MS = 5_000
# An orphaned transaction of a vanished instance holds back read-committed readers this long.
TRANSACTION_TIMEOUT_MS = 15_000
# See port_kafka_python: a transaction begun just after the last one's EndTxn meets
# CONCURRENT_TRANSACTIONS, and a 100 ms back-off stalled 3-4% of batches under claims.
TXN_RETRY_BACKOFF_MS = 5
LINGER_MS = 1
BATCH_BYTES = 512 * 1024
MAX_REQUEST_BYTES = 16 * 1024 * 1024
# Past the transaction timeout (15 s): by then the coordinator gave up on it as well, and
# a dead coordinator's broker was fenced (9 s) and replaced.
CALL_SECONDS = 20.0

CLIENTS = PROCESSOR_CLIENTS


class KafkaCallError(Exception):
    """A Kafka call of the processor failed.

    fenced: another producer with our transactional id (or the coordinator's timeout
    abort, which reads the same) took over; stuck: the producer cannot be trusted to
    abort (a bounded call timed out, or the client's error is fatal): replace it.
    """

    def __init__(self, message: str, *, fenced: bool = False, stuck: bool = False) -> None:
        super().__init__(message)
        self.fenced, self.stuck = fenced, stuck


class Record(Protocol):
    """A consumed command (kafka-python's ConsumerRecord has these, and more)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


Batch = dict[int, list[Any]]  # partition -> its records in offset order (Record)
Partitions = Callable[[set[int]], None]


class CommandConsumer(Protocol):
    def subscribe(self, on_assigned: Partitions, on_revoked: Partitions) -> None:
        """Join the group. on_assigned gets partitions already paused; on_revoked those
        taken away. Both run inside poll(): bookkeeping only."""

    def rejoin(self) -> None:
        """Leave and join again with the same callbacks (orphan_watch)."""

    def poll(self, timeout_ms: int) -> Batch: ...
    def resume(self, partition: int) -> None: ...
    def seek(self, partition: int, offset: int) -> None: ...
    def assignment(self) -> set[int]: ...
    def subscription(self) -> set[str]: ...

    def partition_count(self) -> int:
        """Partitions of the commands topic as this client's metadata knows them (0: none)."""

    def group_metadata(self) -> Any: ...
    def close(self) -> None: ...


class TransactionalProducer(Protocol):
    def init_transactions(self, timeout_s: float = CALL_SECONDS) -> None: ...
    def begin(self) -> None: ...

    def send(self, topic: str, value: bytes, key: bytes | None, partition: int | None = None,
             headers: list[tuple[str, bytes]] | None = None) -> Any:  # fmt: skip
        """Send within the open transaction; the handle is for `refusal`."""

    def refusal(self, handle: Any) -> str | None:
        """The broker's reason, if it refused this record for good (a retry sends the same
        bytes and is refused again); None for success, pending or a transient failure."""

    def send_offsets(self, topic: str, offsets: dict[int, int], group_metadata: Any) -> None:
        """Add the consumed offsets (partition -> next offset to read) to the transaction."""

    def flush(self) -> None: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...

    def discard(self) -> None:
        """Let go of a stuck producer without waiting on it; its successor, with the same
        transactional id, fences it and aborts its transaction (init_transactions)."""

    def close(self) -> None: ...


def check_client(name: str) -> str:
    if name not in CLIENTS:
        raise ValueError(f"unknown Kafka client {name!r}: one of {', '.join(CLIENTS)}")
    return name
