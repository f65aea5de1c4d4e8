"""kill -9 of the Faust views worker while it folds a live marketplace: nothing lost,
nothing applied twice, nothing paid twice.

The worker is killed three times mid-stream: a requester posts a burst of 2,000 tasks
(one transaction of 2,001 events) and the worker is killed as soon as it has folded a
part of it. It is restarted under the same instance id (what `piecework serve` does) and
resumes from the offsets stored with the views. The views must then equal a fold of the
log, and the ledger must agree with it worker by worker: `paid` is the sum of
PayoutIssued, `earned` the sum of approvals.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from broker.client import Client
from consumers.engine.runner import digests
from consumers.stores.redis_store import RedisStore
from runtime.settings import Settings
from testkit.stack_processes import HANG_GUARD_S, PATIENCE_S, PATIENT_RETRIES, Stack, probe
from testkit.views_kit import (
    behind,
    export_and_fold,
    kill9,
    last_offsets,
    ledger_matches_log,
    ledger_ok,
    live_snapshot,
    quiescent_log,
    read_log,
    restart_views,
    stack_on_free_db,
    stored_offsets,
    wait_deadlines_settled,
    wait_views_lag_zero,
)
from tests.views_market import STACK_ENV, Background, Market, Mix

DBS = (6, 7, 8, 4, 5)
TASKS = 3_000
KILLS = 3


@pytest.mark.timeout(HANG_GUARD_S)
def test_kill_9_of_the_views_worker_mid_stream_loses_and_repeats_nothing(
    kafka_bootstrap, redis_url, tmp_path
) -> None:
    with stack_on_free_db(kafka_bootstrap, redis_url, tmp_path, DBS, clock_speed=600,
                          extra_env=STACK_ENV) as stack:  # fmt: skip
        settings = Settings.from_env(stack.env)
        store = RedisStore.from_url(settings.redis)
        probe(stack)
        burst = asyncio.run(_requester(stack))
        load = Background(Market(stack.url, stack.operator_token, Mix(tasks=TASKS))).start()
        kills = []
        for k in range(1, KILLS + 1):
            load.wait_submitted(k * TASKS // (KILLS + 1))
            before = sum(stored_offsets(store)["queue"].values())
            asyncio.run(_post_burst(stack, burst, f"burst{k}"))
            applied = _kill_when_applied(stack, store, before + BURST // 5)
            log_end = last_offsets(read_log(settings.kafka, settings.topics.events))
            kills.append((applied, behind(store, log_end)))
            time.sleep(1.0)  # the load goes on without views: claims find an idle queue
            restart_views(stack)
        tally = load.join()
        stack.assert_alive()
        assert tally.submitted == TASKS, tally.outcomes
        wait_deadlines_settled(store, PATIENCE_S, settings.clock().now_ms, stack.assert_alive)
        records, _ = quiescent_log(settings.kafka, settings.topics.events, store, PATIENCE_S,
                                   stack.assert_alive)  # fmt: skip
        wait_views_lag_zero(settings, PATIENCE_S)

        live = live_snapshot(store)
        exported, replayed = export_and_fold(stack.env, tmp_path / "events.jsonl")
        assert len(exported) == len(records)
        assert live.offsets == {v: last_offsets(records) for v in live.offsets}
        assert live.digests == replayed == digests(store)
        ledger_ok(store)
        kinds = ledger_matches_log(store, records)
        log_text = stack.log("views").read_text()

    print(
        f"\n{len(records):,} events; at each kill (burst events folded, offsets left "
        f"to fold): {kills}"
    )
    print({k: kinds[k] for k in ("SubmissionApproved", "WorkerCredited", "PayoutIssued")})
    # Killed mid-stream: part of the burst folded, part of it not, every time.
    assert all(applied > 0 and left > 0 for applied, left in kills), kills
    # Every restart resumed from the store, not from the start of the log.
    resumed = [line for line in log_text.splitlines() if "next offsets in the store" in line]
    assert len(resumed) >= KILLS + 1 and all("None" not in line for line in resumed[1:]), resumed
    assert kinds["PayoutIssued"] > 0 and kinds["ClaimExpired"] > 0


BURST = 2_000


async def _requester(stack: Stack) -> str:
    async with Client(stack.url, stack.operator_token) as operator:
        token = await operator.create_actor(f"burst-{uuid.uuid4().hex[:6]}", "requester")
    async with Client(stack.url, token, retries=PATIENT_RETRIES) as requester:
        await requester.deposit(10**12, "EUR")
    return token


async def _post_burst(stack: Stack, token: str, batch_id: str) -> None:
    """Tasks nobody qualifies for: they only make events for the views to fold."""
    spec = {"kind": "survey", "reward": 1_000, "currency": "EUR", "estimated_seconds": 10,
            "qualifications": ["nobody-has-it"], "payload": {"q": batch_id}}  # fmt: skip
    # A 503 (no reply within the API's 10 s) is sent again with the same Idempotency-Key.
    async with Client(stack.url, token, retries=PATIENT_RETRIES, timeout=60) as requester:
        await requester.post_batch(batch_id, [spec] * BURST)


def _kill_when_applied(stack: Stack, store: RedisStore, offsets: int) -> int:
    """kill -9 the views worker once its queue view passed `offsets` (summed over
    partitions); return how far past the pre-burst sum it got."""
    deadline = time.monotonic() + PATIENCE_S
    while (now := sum(stored_offsets(store)["queue"].values())) < offsets:
        stack.assert_alive()
        assert time.monotonic() < deadline, "the views never folded the burst"
        time.sleep(0.002)
    kill9(stack.processes["views"])
    return now - (offsets - BURST // 5)
