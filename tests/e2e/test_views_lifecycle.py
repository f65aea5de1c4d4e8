"""A full marketplace lifecycle of 10,000 tasks through the real stack, then the views
must equal a fold of the exported log, view by view, and the ledger must conserve money.

Clock speed 600: a lease or an auto-approval of one market hour passes in 6 s, and a
payout run happens every 3 s, so expiries, auto-approvals and payouts all take place.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from consumers.stores.redis_store import RedisStore
from runtime.settings import Settings
from schemas.events import SubmissionApproved
from testkit.stack_processes import HANG_GUARD_S, PATIENCE_S, probe
from testkit.views_kit import (
    audit_json,
    export_and_fold,
    last_offsets,
    ledger_matches_log,
    ledger_ok,
    live_snapshot,
    quiescent_log,
    stack_on_free_db,
    wait_deadlines_settled,
    wait_views_lag_zero,
)
from tests.views_market import STACK_ENV, Market, Mix

TASKS = int(os.environ.get("PIECEWORK_LIFECYCLE_TASKS", "10000"))
DBS = (5, 6, 7, 8, 4)
QUIET = {**STACK_ENV, "PIECEWORK_LOG_LEVEL": "WARNING"}


@pytest.mark.timeout(HANG_GUARD_S)
def test_a_lifecycle_of_10k_tasks_folds_into_views_equal_to_the_replayed_log(
    kafka_bootstrap, redis_url, tmp_path
) -> None:
    began = time.monotonic()
    with stack_on_free_db(kafka_bootstrap, redis_url, tmp_path, DBS, clock_speed=600,
                          extra_env=QUIET) as stack:  # fmt: skip
        settings = Settings.from_env(stack.env)
        store = RedisStore.from_url(settings.redis)
        ready = probe(stack)

        load_began = time.monotonic()
        tally = asyncio.run(Market(stack.url, stack.operator_token, Mix(tasks=TASKS)).run())
        load_s = time.monotonic() - load_began
        stack.assert_alive()
        assert tally.submitted == TASKS, tally.outcomes
        settle_s = wait_deadlines_settled(store, PATIENCE_S, settings.clock().now_ms,
                                          stack.assert_alive)  # fmt: skip
        records, drain_s = quiescent_log(settings.kafka, settings.topics.events, store,
                                         PATIENCE_S, stack.assert_alive)  # fmt: skip

        lag_s = wait_views_lag_zero(settings, PATIENCE_S)

        checks = time.monotonic()
        live = live_snapshot(store)
        exported, replayed = export_and_fold(stack.env, tmp_path / "events.jsonl")
        assert len(exported) == len(records)
        assert live.offsets == {v: last_offsets(records) for v in live.offsets}, (
            "the views are not at the end of the exported log"
        )
        assert live.digests == replayed, "a view differs from the fold of the exported log"
        totals = ledger_ok(store)["EUR"]
        kinds = ledger_matches_log(store, records)
        folded_s = time.monotonic() - checks
        report = audit_json(stack.env)
        assert report["ok"] and report["views_match"], report
        audit_s = time.monotonic() - checks - folded_s

    commands = sum(n for what, n in tally.outcomes.items() if what.endswith(": ok"))
    print(
        f"\nstack ready in {ready:.1f}s; load of {TASKS:,} tasks in {load_s:.1f}s: "
        f"{TASKS / load_s:,.0f} tasks/s, {commands / load_s:,.0f} accepted API calls/s"
    )
    print(
        f"deadlines settled {settle_s:.1f}s after; views at the log end {drain_s:.1f}s after "
        f"it was read; broker-reported views lag 0 after {lag_s:.1f}s more"
    )
    print(
        f"export + fold + ledger checks {folded_s:.1f}s; piecework audit {audit_s:.1f}s "
        f"({report['events_per_second']:,.0f} events/s)"
    )
    print(f"{len(records):,} events: {dict(sorted(kinds.items()))}")
    print(f"outcomes: {dict(sorted(tally.outcomes.items()))}")
    print(
        f"EUR: deposits {totals['deposits']:,} payouts {totals['payouts']:,} "
        f"fees {totals['fees']:,} imbalance {totals['imbalance']}"
    )
    print(f"total {time.monotonic() - began:.1f}s")
    for kind in ("TaskClaimed", "ClaimReleased", "ClaimExpired", "SubmissionRejected",
                 "PayoutIssued", "WorkerCredited"):  # fmt: skip
        assert kinds[kind] > 0, f"no {kind}: the lifecycle is incomplete"
    automatic = sum(isinstance(e, SubmissionApproved) and e.automatic
                    for e in (r[2].event for r in records))  # fmt: skip
    assert automatic > 0, "no auto-approval happened"
