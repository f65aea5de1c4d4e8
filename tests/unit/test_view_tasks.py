"""Task lookup view: given events, then the task, claim and submission the API reads."""

from __future__ import annotations

from consumers.engine.runner import apply_batch, fold_log
from consumers.stores.memory_store import MemoryStore
from consumers.views import tasks_view as tv
from tests.view_story import T0, Story

VIEWS = {tv.VIEW: tv.project}


def fold(story: Story) -> MemoryStore:
    store = fold_log(story.records, views=VIEWS)
    assert isinstance(store, MemoryStore)
    return store


def test_a_posted_task_shows_its_terms() -> None:
    s = Story()
    (task,) = s.post("acme", reward=300, qualifications=("fr",), payload={"text": "été"})
    got = fold(s).hgetall(tv.task_key(task))
    assert got["status"] == "open" and got["requester"] == "acme" and got["reward"] == "300"
    assert got["qualifications"] == "fr" and got["posted_at"] == str(T0)
    assert got["payload"] == '{"text":"été"}' and "payload_ref" not in got


def test_claim_statuses_follow_the_claim() -> None:
    s = Story()
    (task,) = s.post("acme", assignments=3)
    released, expired, done = s.claim(task, "a"), s.claim(task, "b"), s.claim(task, "c")
    s.advance(1_000).release(released)
    s.expire_claim(expired)
    s.submit(done)
    store = fold(s)
    status = {c: store.hgetall(tv.claim_key(task, c))["status"] for c in (released, expired, done)}
    assert status == {released: "released", expired: "expired", done: "submitted"}
    claim = store.hgetall(tv.claim_key(task, released))
    assert (claim["worker"], claim["claimed_at"], claim["ended_at"]) == (
        "a",
        str(T0),
        str(T0 + 1000),
    )
    counts = store.hgetall(tv.task_key(task))
    assert (counts["claimed"], counts["released"], counts["expired_claims"]) == ("3", "1", "1")
    live_or_submitted = 3 - 1 - 1
    assert live_or_submitted <= int(counts["assignments"])  # invariant 1, as the audit reads it


def test_a_submission_through_rejection_dispute_and_overturn() -> None:
    s = Story()
    (task,) = s.post("acme")
    sub = s.advance(5_000).submit(s.claim(task, "wanda"), {"label": "dog"})
    s.advance(1_000).reject(sub, "blurry")
    s.advance(1_000).dispute(sub, "it is a dog")
    s.advance(1_000).overturn(sub, "olga")
    store = fold(s)
    got = store.hgetall(tv.submission_key(task, sub))
    assert got["status"] == "overturned" and got["worker"] == "wanda"
    assert got["answer"] == '{"label":"dog"}' and got["reason"] == "blurry"
    assert got["dispute_reason"] == "it is a dog" and got["overturned_by"] == "olga"
    assert int(got["reviewed_at"]) - int(got["submitted_at"]) == 1_000
    assert store.smembers(tv.submissions_key(task)) == {sub}
    counts = store.hgetall(tv.task_key(task))
    assert (counts["rejected"], counts["disputed"], counts["overturned"]) == ("1", "1", "1")


def test_approval_bonus_and_closing() -> None:
    s = Story()
    (task,) = s.post("acme", assignments=2)
    s.approve(s.submit(s.claim(task, "wanda")), automatic=True)
    s.bonus(task, "wanda", 1_000, 200)
    s.close(task)
    store = fold(s)
    got = store.hgetall(tv.task_key(task))
    assert got["status"] == "cancelled" and got["approved"] == "1"
    assert (got["bonuses"], got["bonus_amount"]) == ("1", "1000")
    sub = store.hgetall(tv.submission_key(task, next(iter(s.subs))))
    assert sub["status"] == "approved" and sub["automatic"] == "1"


def test_an_expired_task_says_so() -> None:
    s = Story()
    (task,) = s.post("acme")
    s.close(task, expired=True)
    assert fold(s).hgetall(tv.task_key(task))["status"] == "expired"


def test_redelivered_events_change_nothing() -> None:
    s = Story()
    (task,) = s.post("acme")
    s.approve(s.submit(s.claim(task, "wanda")))
    store = fold(s)
    before = store.digest(tv.PREFIX)
    assert apply_batch(store, s.records, VIEWS) == 0
    assert store.digest(tv.PREFIX) == before
