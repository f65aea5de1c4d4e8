"""Payout runs: who is paid, how much, and that a run is idempotent."""

from consumers.stores.memory_store import MemoryStore
from consumers.stores.ops import Entry, hincrby
from consumers.timers.payouts import PayoutPolicy, due_run, payout_commands
from consumers.views.ledger import worker_key


def ledger_with(balances: dict[tuple[str, str], int]) -> MemoryStore:
    store = MemoryStore()
    ops = tuple(hincrby(worker_key(w, c), "balance", b) for (w, c), b in balances.items())
    store.apply([Entry("pw:ledger:offsets", 0, 0, ops)])
    return store


def test_only_balances_at_or_above_the_threshold_are_paid_in_full() -> None:
    store = ledger_with({("ana", "EUR"): 1_000_000, ("bob", "EUR"): 999_999, ("ana", "USD"): 5})
    commands = payout_commands(store, PayoutPolicy(threshold=1_000_000), run_at=86_400_000)
    assert [(c.command.worker_id, c.command.amount, c.command.currency) for c in commands] == [
        ("ana", 1_000_000, "EUR")
    ]
    assert commands[0].actor_role == "system"


def test_the_same_run_yields_the_same_command_ids() -> None:
    store = ledger_with({("ana", "EUR"): 2_000_000})
    first = payout_commands(store, PayoutPolicy(), run_at=7)
    again = payout_commands(store, PayoutPolicy(), run_at=7)
    later = payout_commands(store, PayoutPolicy(), run_at=8)
    assert [c.command_id for c in first] == [c.command_id for c in again]
    assert first[0].command_id != later[0].command_id


def test_runs_are_aligned_to_the_interval() -> None:
    day = 86_400_000
    assert due_run(None, 3 * day + 5, day) == 3 * day
    assert due_run(3 * day, 3 * day + 10, day) is None
    assert due_run(3 * day, 4 * day, day) == 4 * day
