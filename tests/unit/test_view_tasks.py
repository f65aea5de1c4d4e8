"""Task lookup view: given events, then the task, claim and submission the API reads."""

from __future__ import annotations

from msgspec.structs import replace

from consumers.engine.runner import apply_batch, fold_log
from consumers.stores.memory_store import MemoryStore
from consumers.views import task_record as tr
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
    got = tr.read_task(fold(s), task)
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
    counts = tr.read_task(store, task)
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
    counts = tr.read_task(store, task)
    assert (counts["rejected"], counts["disputed"], counts["overturned"]) == ("1", "1", "1")


def test_approval_bonus_and_closing() -> None:
    s = Story()
    (task,) = s.post("acme", assignments=2)
    s.approve(s.submit(s.claim(task, "wanda")), automatic=True)
    s.bonus(task, "wanda", 1_000, 200)
    s.close(task)
    store = fold(s)
    got = tr.read_task(store, task)
    assert got["status"] == "cancelled" and got["approved"] == "1"
    assert (got["bonuses"], got["bonus_amount"]) == ("1", "1000")
    sub = store.hgetall(tv.submission_key(task, next(iter(s.subs))))
    assert sub["status"] == "approved" and sub["automatic"] == "1"


def test_an_expired_task_says_so() -> None:
    s = Story()
    (task,) = s.post("acme")
    s.close(task, expired=True)
    assert tr.read_task(fold(s), task)["status"] == "expired"


def test_redelivered_events_change_nothing() -> None:
    s = Story()
    (task,) = s.post("acme")
    s.approve(s.submit(s.claim(task, "wanda")))
    store = fold(s)
    before = store.digest(tv.PREFIX)
    assert apply_batch(store, s.records, VIEWS) == 0
    assert store.digest(tv.PREFIX) == before


def test_one_task_reads_as_a_page_of_them_and_tasks_share_their_terms() -> None:
    s = Story()
    tasks = s.post("acme", "b7", count=40, assignments=2)  # two hashes of 32
    s.submit(s.claim(tasks[3], "w"))
    s.close(tasks[5])
    store = fold(s)
    ids = [*tasks, "acme:b7:99", "nobody:b:1"]
    page = tr.read_tasks(store, ids)
    assert [tr.read_task(store, t) for t in ids] == page
    assert page[-2:] == [{}, {}] and page[3]["submitted"] == "1"
    assert page[5]["status"] == "cancelled" and page[6]["status"] == "open"
    (bucket,) = [k for k in store.scan(tr.BUCKET) if k.endswith(":b7:0")]
    assert len([f for f in store.hgetall(bucket) if f.startswith("~")]) == 2  # shared terms
    s.emit("acme", replace(s.tasks[tasks[0]].posted, task_id="acme:b7:50", reward=7))
    store = fold(s)  # a task whose terms are not its hash's first: read in two trips
    assert tr.read_task(store, "acme:b7:50")["reward"] == "7"
    assert tr.read_task(store, "acme:b7:50") == tr.read_tasks(store, ["acme:b7:50"])[0]
