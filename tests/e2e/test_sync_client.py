"""The synchronous client and the CLI's deposit against the real stack: caller-chosen
idempotency keys deposit once, listings page lazily, and it all works inside a running
event loop (a notebook's). No timing assertions: deadlines only."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.client import ApiError
from broker.client_sync import SyncClient
from deploy.cli import main
from testkit.stack_processes import PATIENCE_S, PATIENT_RETRIES, Stack, running_stack_on_a_free_db

CANDIDATE_DBS = (13, 1, 2)  # 13: no other e2e module names it
SPEC = {"kind": "survey", "reward": 2_000, "currency": "EUR", "estimated_seconds": 60,
        "payload": {"q": "sync"}}  # fmt: skip
N_TASKS = 230  # three pages of 100
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def stack(kafka_bootstrap, redis_url, tmp_path_factory) -> Iterator[Stack]:
    with running_stack_on_a_free_db(
            kafka_bootstrap, redis_url, tmp_path_factory.mktemp("sync-client"), CANDIDATE_DBS,
    ) as running:  # fmt: skip
        yield running


def client(stack: Stack, token: str) -> SyncClient:
    return SyncClient(stack.url, token, retries=PATIENT_RETRIES, timeout=PATIENCE_S)


def until(what: str, check: Callable[[], Any]) -> Any:
    """`check()` once it is truthy (the views follow the log; 404 until they do), within
    PATIENCE_S."""
    deadline = time.monotonic() + PATIENCE_S
    while True:
        try:
            found = check()
        except ApiError as exc:
            if exc.status != 404:
                raise
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {PATIENCE_S:.0f} s")
        time.sleep(0.3)


def requester_and_worker(stack: Stack) -> tuple[str, str, str]:
    tag = uuid.uuid4().hex[:6]
    with client(stack, stack.operator_token) as op:
        return (f"acme-{tag}", op.create_actor(f"acme-{tag}", "requester"),
                op.create_actor(f"w-{tag}", "worker"))  # fmt: skip


def deposited(requester: SyncClient) -> int:
    return requester.get("/v1/ledger")["accounts"].get("EUR", {}).get("deposited", 0)


def test_the_sync_client_end_to_end(stack: Stack):
    acme_id, acme, worker_token = requester_and_worker(stack)
    with client(stack, acme) as requester, client(stack, worker_token) as worker:
        # a caller-chosen key: the same deposit twice is one deposit, the same reply
        first = requester.deposit(7_000_000, "EUR", idempotency_key="topup-1")
        again = requester.deposit(7_000_000, "EUR", idempotency_key="topup-1")
        assert again == first
        with pytest.raises(ApiError) as reused:  # the key names another request now
            requester.deposit(9_000_000, "EUR", idempotency_key="topup-1")
        assert (reused.value.status, reused.value.code) == (422, "idempotency_key_reused")
        requester.deposit(1_000_000, "EUR")  # no key: a command of its own
        assert until("the deposits", lambda: deposited(requester) == 8_000_000)

        posted = requester.post_batch("sync", [SPEC] * N_TASKS)
        assert len(posted["task_ids"]) == N_TASKS
        until("the batch", lambda: requester.batch("sync")["tasks"] == N_TASKS)

        # a listing is a lazy iterator: pages are fetched as it is read, and left early
        tasks = requester.batch_tasks("sync", limit=100)
        assert not isinstance(tasks, list | tuple)
        assert next(tasks)["task_id"] == posted["task_ids"][0]
        tasks.close()  # leaving early stops it; the client stays usable
        assert [t["task_id"] for t in requester.batch_tasks("sync", limit=100)] == \
            posted["task_ids"]  # fmt: skip
        assert "sync" in [b["batch_id"] for b in requester.batches(limit=1)]

        first_task = posted["task_ids"][0]
        claim = worker.claim(first_task, idempotency_key="claim-1")
        assert worker.claim(first_task, idempotency_key="claim-1") == claim  # replayed
        submitted = worker.submit(claim["claim_id"], {"a": 1}, idempotency_key="submit-1")
        approved = requester.approve(submitted["submission_id"], idempotency_key="ok-1")
        assert requester.approve(submitted["submission_id"], idempotency_key="ok-1") == approved
        with pytest.raises(ApiError) as unknown:  # a refusal is raised, as by Client
            requester.approve(f"{acme_id}:nothing:0:c1")
        assert 400 <= unknown.value.status < 500
        # a stream of bytes, chunk by chunk: the approved submission with its answer
        exported = until("the results", lambda: b"".join(requester.results("sync")))
        assert submitted["submission_id"] in exported.decode()


def test_the_sync_client_works_inside_a_running_event_loop(stack: Stack):
    """Jupyter runs an event loop in the thread that runs the cells: asyncio.run would
    refuse there; the SyncClient's own loop thread does not care."""
    _, acme, _ = requester_and_worker(stack)

    async def cell() -> int:
        with client(stack, acme) as requester:
            requester.deposit(3_000_000, "EUR", idempotency_key="cell-1")
            return until("the deposit", lambda: deposited(requester))

    assert asyncio.run(cell()) == 3_000_000


def test_the_cli_deposits_once_per_key_and_lists_batches(stack: Stack, capsys):
    _, acme, _ = requester_and_worker(stack)
    auth = ["--url", stack.url, "--token", acme]
    capsys.readouterr()
    for _ in range(2):  # the same command again, as after a timeout: one deposit
        assert main(["deposit", "25.50", "eur", "--units", "--idempotency-key", "cli-1",
                     *auth]) == 0  # fmt: skip
    replies = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(replies) == 2 and replies[0] == replies[1]
    assert main(["deposit", "500000", "EUR", *auth]) == 0
    with client(stack, acme) as requester:
        assert until("the deposits", lambda: deposited(requester) == 26_000_000)
        requester.post_batch("cli", [SPEC])
        until("the batch", lambda: list(requester.batches()))
    capsys.readouterr()

    assert main(["batches", "--json", *auth]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["batch_id"] for r in rows] == ["cli"] and rows[0]["tasks"] == 1

    assert main(["deposit", "5", "XYZ", *auth]) == 1  # refused: one line, no traceback
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("piecework deposit: 4"), err


def test_the_readmes_sync_example_runs(stack: Stack, capsys):
    (example,) = re.findall(r"```py\n(.*?)```", README.read_text(), flags=re.S)
    _, acme, _ = requester_and_worker(stack)
    with client(stack, acme) as requester:
        requester.deposit(10_000_000, "EUR")
        task_ids = requester.post_batch("b1", [SPEC] * 2)["task_ids"]
        until("the batch", lambda: len(list(requester.batch_tasks("b1"))) == 2)
    capsys.readouterr()
    # Only the address differs from the README's default.
    exec(example.replace("http://127.0.0.1:8080", stack.url), {"token": acme})
    printed = capsys.readouterr().out.split()
    assert printed == [task_ids[0], str(SPEC["reward"]), task_ids[1], str(SPEC["reward"])]
    with client(stack, acme) as requester:
        assert until("the deposit", lambda: deposited(requester) == 60_000_000)
