"""Response models: given a log folded into the views, then every read the API serves is
typed (ints, bools, lists, JSON values) and valid against the OpenAPI document."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from broker.api import resources as r
from broker.api.auth import ROLES
from broker.api.shaping import ShapeError, plain, typed
from consumers.engine.runner import fold_log
from consumers.queries import listings
from consumers.stores.memory_store import MemoryStore
from consumers.views import batches as bv
from consumers.views import ledger, task_record
from consumers.views import tasks_view as tv
from schemas.money import CURRENCIES
from schemas.rules import KINDS
from tests.openapi_kit import document, errors, model_validator
from tests.view_story import full_story

VIEWS = {tv.VIEW: tv.project, bv.VIEW: bv.project, ledger.VIEW: ledger.project}


def values(literal: object) -> set:
    return set(typing.get_args(literal))


def test_the_enums_are_the_domains_and_the_views() -> None:
    assert values(r.Currency) == CURRENCIES and values(r.Kind) == KINDS
    assert values(r.Role) == set(ROLES)
    assert values(r.ListedTaskStatus) == set(bv.TASK_STATUSES)
    assert values(r.ListedSubmissionStatus) == set(bv.SUBMISSION_STATUSES)


@pytest.fixture(scope="module")
def store() -> MemoryStore:
    folded = fold_log(full_story().records, views=VIEWS)
    assert isinstance(folded, MemoryStore)
    return folded


@pytest.fixture(scope="module")
def spec() -> dict:
    return document()


def keys(store: MemoryStore, prefix: str) -> list[str]:
    return sorted(store.scan(prefix))


def task_ids(store: MemoryStore) -> list[str]:
    """Every task the tasks view holds: a bucket's plain-index fields are its tasks."""
    found = []
    for key in keys(store, task_record.BUCKET):
        head = key.removeprefix(task_record.BUCKET).rpartition(":")[0]
        found += [f"{head}:{f}" for f in store.hgetall(key) if f.isdigit()]
    return sorted(found)


def served(spec: dict, model: object) -> dict:
    """The model as served, after checking it against the document's schema of it."""
    value = plain(model)
    assert not errors(model_validator(spec, type(model).__name__), value), value
    return value


def test_every_task_claim_and_submission_is_served_typed(store, spec) -> None:
    tasks = task_ids(store)
    assert len(tasks) == 5
    for task_id in tasks:
        found = task_record.read_task(store, task_id)
        task = served(spec, typed(r.Task, listings.task_row(task_id, found)))
        assert type(task["reward"]) is int and type(task["below_wage_floor"]) is bool
        assert isinstance(task["qualifications"], list) and isinstance(task["payload"], dict)
    statuses = set()
    for key in keys(store, "pw:tasks:claim:"):
        parts = key.removeprefix("pw:tasks:claim:").split(":")  # task id, then claim id
        task_id, claim_id = ":".join(parts[:3]), ":".join(parts[3:])
        found = store.hgetall(key)
        claim = served(spec, typed(r.Claim, {**found, "claim_id": claim_id, "task_id": task_id}))
        statuses.add(claim["status"])
        assert type(claim["claimed_at"]) is int
    assert statuses == values(r.ClaimStatus) - {"active"}  # the story leaves no claim live
    answers = []
    for key in keys(store, "pw:tasks:submission:"):
        sid = key.removeprefix("pw:tasks:submission:").split(":", 3)[3]
        sub = served(spec, typed(r.Submission, listings.submission_row(sid, store.hgetall(key))))
        answers.append(sub["answer"])
        assert sub["task_id"] == sid.rpartition(":")[0] and type(sub["submitted_at"]) is int
    assert {"label": "cat"} in answers  # the JSON value submitted, not its text


def test_a_task_without_claims_counts_zero_and_has_no_close(store, spec) -> None:
    found = task_record.read_task(store, "acme:b1:2")  # never claimed
    assert "claimed" not in found
    task = served(spec, typed(r.Task, listings.task_row("acme:b1:2", found)))
    assert task["claimed"] == 0 and task["bonus_amount"] == 0 and task["closed_at"] is None


def test_a_tasks_submissions_page_in_claim_order(store, spec) -> None:
    task_id = "acme:b1:0"
    items, after = listings.task_submissions_page(store, task_id, None, 1)
    page = served(spec, r.TaskSubmissions(task_id=task_id, next_cursor=after,
                                          items=[typed(r.Submission, i) for i in items]))
    assert [s["submission_id"] for s in page["items"]] == [f"{task_id}:c0"]
    assert after is None  # c1 was released, never submitted
    assert listings.task_submissions_page(store, "nobody:b:0", None, 10) == ([], None)


def test_ledgers_and_batches_are_served_typed(store, spec) -> None:
    worker = typed(r.WorkerAccount, store.hgetall(ledger.worker_key("wanda", "EUR")))
    acme = typed(r.RequesterAccount, store.hgetall(ledger.requester_key("acme", "EUR")))
    served(spec, r.Ledger(actor_id="wanda", role="worker", accounts={"EUR": worker}))
    served(spec, r.Ledger(actor_id="acme", role="requester", accounts={"EUR": acme}))
    assert worker.balance == worker.credited - worker.paid > 0
    totals = ledger.ledger_totals(store)
    platform = served(spec, r.PlatformLedger(
        totals={c: typed(r.PlatformTotals, t) for c, t in totals.items()}, violations=[]))
    assert platform["totals"]["EUR"]["imbalance"] == 0
    rows, after = listings.batches_page(store, "acme", None, 10)
    served(spec, r.BatchPage(requester_id="acme", items=[typed(r.Batch, b) for b in rows],
                             next_cursor=after))
    progress = served(spec, typed(r.BatchProgress, listings.batch_progress(store, "acme", "b1")))
    assert progress["status_counts"]["approved"] == progress["approved"]


def test_the_models_name_every_figure_the_views_keep(store) -> None:
    def names(model: type) -> set[str]:
        return {f.name for f in dataclasses.fields(model)}

    totals = ledger.ledger_totals(store)
    assert set().union(*(t.keys() for t in totals.values())) <= names(r.PlatformTotals)
    assert names(r.WorkerAccount) == set(ledger._SUMS["worker"])
    assert names(r.RequesterAccount) == set(ledger._SUMS["requester"])
    assert {*listings.BATCH_COUNTERS, "posted_at", "currency"} <= names(r.Batch)
    for task_id in task_ids(store):
        assert set(task_record.read_task(store, task_id)) <= names(r.Task)


def test_typed_converts_view_text_by_annotation() -> None:
    claim = typed(r.Claim, {"claim_id": "c", "task_id": "t", "status": "active",
                            "worker": "w", "claimed_at": "12", "lease_expires_at": "40",
                            "internal": "left out"})  # fmt: skip
    assert claim.claimed_at == 12 and claim.ended_at is None and claim.submission is None
    assert plain(claim)["lease_expires_at"] == 40 and "internal" not in plain(claim)
    ok = typed(r.ReviewResult, {"submission_id": "s", "ok": "1"})
    assert ok.ok is True and ok.code is None


def test_typed_refuses_what_the_document_would_not_allow() -> None:
    base = {"claim_id": "c", "task_id": "t", "worker": "w", "claimed_at": 1,
            "lease_expires_at": 2}  # fmt: skip
    with pytest.raises(ShapeError, match="status"):
        typed(r.Claim, {**base, "status": "lost"})
    with pytest.raises(ShapeError, match="status is missing"):
        typed(r.Claim, base)
    with pytest.raises(ShapeError, match="claimed_at"):
        typed(r.Claim, {**base, "status": "active", "claimed_at": "soon"})


def test_a_task_posted_by_reference_has_a_null_payload(spec) -> None:
    story = full_story()
    (task_id,) = story.post("acme", "refs", payload=None, payload_ref="s3://bucket/1.json")
    store = fold_log(story.records, views=VIEWS)
    found = task_record.read_task(store, task_id)
    task = served(spec, typed(r.Task, listings.task_row(task_id, found)))
    assert task["payload"] is None and task["payload_ref"] == "s3://bucket/1.json"
