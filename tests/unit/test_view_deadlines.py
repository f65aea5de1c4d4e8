"""Deadlines view: given events, then what the timer has to fire and when."""

from __future__ import annotations

from msgspec.structs import replace

from consumers.engine.runner import apply_batch, fold_log
from consumers.stores.memory_store import MemoryStore
from consumers.views import deadlines as dl
from consumers.views.deadlines import Deadline, due
from tests.view_story import T0, Story

VIEWS = {dl.VIEW: dl.project}
LEASE_MS = 900_000
DAY = 86_400_000


def fold(story: Story) -> MemoryStore:
    store = fold_log(story.records, views=VIEWS)
    assert isinstance(store, MemoryStore)
    return store


def members(store: MemoryStore, key: str) -> list[str]:
    return [m for m, _ in store.zrange_many([(key, 0, -1)])[0]]


def test_a_claim_holds_a_lease_deadline_until_it_ends() -> None:
    s = Story()
    (task,) = s.post("acme", assignments=4)
    claims = [s.claim(task, w) for w in ("a", "b", "c", "d")]
    assert members(fold(s), dl.LEASES) == [dl.member(task, c) for c in claims]
    s.release(claims[0])
    s.expire_claim(claims[1])
    s.submit(claims[2])
    assert members(fold(s), dl.LEASES) == [dl.member(task, claims[3])]


def test_a_submission_waits_for_auto_approval_until_reviewed() -> None:
    s = Story()
    (task,) = s.post("acme", assignments=3)
    approved, rejected, waiting = (s.submit(s.claim(task, w)) for w in ("a", "b", "c"))
    s.approve(approved)
    s.reject(rejected)
    store = fold(s)
    assert members(store, dl.AUTO_APPROVE) == [dl.member(task, waiting)]


def expiring(store: MemoryStore, now: int) -> list[str]:
    return [d.task_id for d in due(store, now, 100) if d.command == "ExpireTask"]


def test_a_task_expiry_leaves_when_the_task_closes() -> None:
    s = Story()
    kept, cancelled, expired = s.post("acme", count=3)
    s.close(cancelled)
    s.close(expired, expired=True)
    assert expiring(fold(s), T0 + 365 * DAY) == [kept]
    s.close(kept)
    store = fold(s)
    assert members(store, dl.TASK_EXPIRY) == [] and store.scan(dl.EXPIRING) == []


def test_a_batch_shares_one_expiry_entry_due_with_its_earliest_open_task() -> None:
    s = Story()
    early = s.post("acme", "b1", count=2, expires_at=T0 + DAY)
    later = replace(s.tasks[early[0]].posted, task_id="acme:b1:2", expires_at=T0 + 3 * DAY)
    s.emit("acme", later)  # the same batch's hash, another instant
    late = [later.task_id]
    store = fold(s)
    assert [(m, int(at)) for m, at in store.zrange_many([(dl.TASK_EXPIRY, 0, -1)])[0]] == [
        ("acme:b1|0", T0 + DAY)]  # fmt: skip
    assert expiring(store, T0 + DAY) == early and expiring(store, T0 + 3 * DAY) == early + late
    for task in early:
        s.close(task)
    store = fold(s)
    assert store.zrange_many([(dl.TASK_EXPIRY, 0, -1)])[0] == [("acme:b1|0", T0 + 3 * DAY)]
    assert expiring(store, T0 + 2 * DAY) == [] and expiring(store, T0 + 3 * DAY) == late


def test_due_returns_what_is_due_earliest_first_across_kinds() -> None:
    s = Story()
    (task,) = s.post("acme", assignments=2, expires_at=T0 + 2 * DAY)
    claim = s.claim(task, "a")
    sub = s.advance(1_000).submit(s.claim(task, "b"))
    store = fold(s)
    assert due(store, T0, 10) == []
    lease = Deadline(T0 + LEASE_MS, "ExpireClaim", task, claim)
    assert due(store, T0 + LEASE_MS, 10) == [lease]
    auto = Deadline(T0 + 1_000 + 3 * DAY, "AutoApprove", task, sub)
    expiry = Deadline(T0 + 2 * DAY, "ExpireTask", task, "")
    assert due(store, T0 + 4 * DAY, 10) == [lease, expiry, auto]
    assert due(store, T0 + 4 * DAY, 2) == [lease, expiry]


def test_redelivered_events_change_nothing() -> None:
    s = Story()
    (task,) = s.post("acme")
    s.claim(task, "a")
    store = fold(s)
    before = store.digest(dl.PREFIX)
    assert apply_batch(store, s.records, VIEWS) == 0
    assert store.digest(dl.PREFIX) == before
