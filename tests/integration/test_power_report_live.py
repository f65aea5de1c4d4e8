"""The power report reads the live Redis views exactly as it reads a replayed MemoryStore.

Like the store contract suite, it runs on the views' test DB (PIECEWORK_VIEWS_TEST_DB,
default 9), flushed before and after: the power view's keys are fixed names.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from consumers.engine.runner import fold_log
from consumers.power import snapshot as power_snapshot
from consumers.power.figures import power_report
from consumers.stores.redis_store import RedisStore
from tests.view_story import Story, full_story

REDIS = os.environ.get("PIECEWORK_REDIS", "redis://127.0.0.1:6379/0")
DB = int(os.environ.get("PIECEWORK_VIEWS_TEST_DB", "9"))
assert DB >= 5, "DBs below 5 belong to the running stack"


@pytest.fixture
def live() -> Iterator[RedisStore]:
    url = urlunsplit(urlsplit(REDIS)._replace(path=f"/{DB}"))
    client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"needs a real Redis at {url}: {exc}")
    client.flushdb()
    try:
        yield RedisStore(client)
    finally:
        client.flushdb()
        client.close()


def busy_story() -> Story:
    s = full_story()
    tasks = s.post("harsh", "b9", count=30)
    subs = [s.submit(s.advance(60_000).claim(t, f"x{i % 7}")) for i, t in enumerate(tasks)]
    for sub in subs[:10]:
        s.approve(sub)
    for sub in subs[10:]:
        s.reject(sub)
    s.overturn(subs[10])
    return s


def test_live_and_replayed_views_give_the_same_report(
    live: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(power_snapshot, "CHUNK", 3)  # several pipelined chunks
    records = busy_story().records
    fold_log(records, store=live)
    expected = power_report(fold_log(records), "EUR", 6_000_000, top_k=3)
    assert power_report(live, "EUR", 6_000_000, top_k=3) == expected
    assert expected["workers"] == 9 and expected["overturned"]["count"] == 2
