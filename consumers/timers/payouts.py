"""Payout runs: pay every worker whose balance reached a threshold, through the command side.

The ledger view says who looks payable; the worker's wallet aggregate decides, against its
exact balance, so a lagging view can cause a refused payout but never an overpayment.
A run's payout ids are derived from the run's instant, so re-sending a run is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from consumers.stores.store import Reader
from consumers.views.ledger import PREFIX as LEDGER_PREFIX
from schemas.commands import IssuePayout
from schemas.envelope import CommandEnvelope

WORKERS = f"{LEDGER_PREFIX}worker:"
CHUNK = 1_000


@dataclass(frozen=True)
class PayoutPolicy:
    threshold: int = 1_000_000  # micro-units: pay out from 1.00 of the currency
    interval_ms: int = 24 * 3600 * 1000  # once a day of (possibly virtual) time


def payable(reader: Reader, threshold: int) -> Iterator[tuple[str, str, int]]:
    """(worker_id, currency, balance) for every wallet at or above the threshold."""
    keys = reader.scan(WORKERS)
    for i in range(0, len(keys), CHUNK):
        chunk = keys[i : i + CHUNK]
        for key, fields in zip(chunk, reader.hgetall_many(chunk), strict=True):
            worker_id, currency = key[len(WORKERS) :].rsplit(":", 1)
            balance = int(fields.get("balance", 0))
            if balance >= threshold:
                yield worker_id, currency, balance


def payout_commands(reader: Reader, policy: PayoutPolicy, run_at: int) -> list[CommandEnvelope]:
    commands = []
    for worker_id, currency, balance in payable(reader, policy.threshold):
        payout_id = f"run{run_at}-{currency}"
        command_id = f"payout:{worker_id}:{payout_id}"
        command = IssuePayout(worker_id, payout_id, balance, currency)
        commands.append(
            CommandEnvelope(command_id, "piecework-payouts", "system", command_id, command)
        )
    return commands


def due_run(last_run: int | None, now: int, interval_ms: int) -> int | None:
    """The instant of the run to do now (aligned to the interval), or None if not due."""
    slot = now - now % interval_ms
    return slot if last_run is None or slot > last_run else None
