"""One contract, two stores: MemoryStore and RedisStore must be indistinguishable.

The Redis store runs against a real server (PIECEWORK_REDIS, default
redis://127.0.0.1:6379/0) on its own DB (PIECEWORK_VIEWS_TEST_DB, default 9), flushed
before and after each test. No server means these tests fail: they never skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from consumers.engine.runner import LIVE_VIEWS, apply_batch, digests, fold_log
from consumers.queries import listings, queue_query
from consumers.stores.memory_store import MemoryStore
from consumers.stores.ops import (
    Entry,
    feed,
    feed_floor_key,
    hdel,
    hincrby,
    hset,
    hsetnx,
    hsetshared,
    offsets_key,
    sadd,
    srem,
    zadd,
    zrem,
)
from consumers.stores.ops import zsync as zsync_op
from consumers.stores.redis_store import RedisStore
from consumers.stores.store import Store
from consumers.views import batches, deadlines, ledger, power, registry
from tests.view_story import full_story

REDIS = os.environ.get("PIECEWORK_REDIS", "redis://127.0.0.1:6379/0")
DB = int(os.environ.get("PIECEWORK_VIEWS_TEST_DB", "9"))
OFFSETS = offsets_key("contract")
assert DB >= 5, "DBs below 5 belong to the running stack"


def redis_client() -> redis.Redis:
    url = urlunsplit(urlsplit(REDIS)._replace(path=f"/{DB}"))
    client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"the store contract needs a real Redis at {url}: {exc}")
    return client


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    client = redis_client()
    client.flushdb()
    try:
        yield RedisStore(client)
    finally:
        client.flushdb()
        client.close()


def run(store: Store, *ops: tuple, offset: int = 0, partition: int = 0) -> int:
    return store.apply([Entry(OFFSETS, partition, offset, tuple(ops))])


def test_hash_ops(store: Store) -> None:
    h = "pw:t:h"
    run(store, hincrby(h, "n", 5), hincrby(h, "n", -7), hset(h, "s", "x"), hset(h, "s", 12),
        hsetnx(h, "s", "kept?"), hsetnx(h, "new", "é"))  # fmt: skip
    assert store.hgetall("pw:t:h") == {"n": "-2", "s": "12", "new": "é"}
    run(store, hdel("pw:t:h", "n"), hdel("pw:t:h", "s", "absent"), offset=1)
    assert store.hgetall("pw:t:h") == {"new": "é"}
    run(store, hdel("pw:t:h", "new", "n"), hdel("pw:t:none", "x"), offset=2)
    assert store.hgetall("pw:t:h") == {} and store.scan("pw:t:") == []


def test_set_ops(store: Store) -> None:
    run(store, sadd("pw:t:s", "a"), sadd("pw:t:s", "b"), sadd("pw:t:s", "a"), srem("pw:t:s", "x"))
    assert store.smembers("pw:t:s") == {"a", "b"}
    assert store.smembers_many(["pw:t:s", "pw:t:none"]) == [{"a", "b"}, set()]
    assert store.smismember("pw:t:s", ["b", "z", "a"]) == [True, False, True]
    assert store.smismember("pw:t:none", ["a"]) == [False]
    run(store, srem("pw:t:s", "a"), srem("pw:t:s", "b"), offset=1)
    assert store.scan("pw:t:") == []


def test_sorted_set_order_ties_windows_and_score_ranges(store: Store) -> None:
    run(store, zadd("pw:t:z", 5, "b"), zadd("pw:t:z", 5, "a"), zadd("pw:t:z", 1, "c"),
        zadd("pw:t:z", 9, "d"), zadd("pw:t:z", 0, "d"), zrem("pw:t:z", "nope"))  # fmt: skip
    ranked = [("d", 0.0), ("c", 1.0), ("a", 5.0), ("b", 5.0)]
    assert store.zrange_many([("pw:t:z", 0, -1), ("pw:t:none", 0, -1)]) == [ranked, []]
    assert store.zrange_many([("pw:t:z", 1, 2), ("pw:t:z", 3, 9)]) == [ranked[1:3], ranked[3:]]
    assert store.zrange_many([("pw:t:z", -2, -1), ("pw:t:z", 5, 9)]) == [ranked[2:], []]
    assert store.zrangebyscore("pw:t:z", 5, 10) == ranked
    assert store.zrangebyscore("pw:t:z", 4.9, 10) == ranked[:2]
    assert store.zrangebyscore("pw:t:z", 5, 3) == ranked[:3]


def test_sorted_set_pages_from_a_score_and_counts(store: Store) -> None:
    run(store, zadd("pw:t:z", 5, "b"), zadd("pw:t:z", 5, "a"), zadd("pw:t:z", 1, "c"),
        zadd("pw:t:z", -3, "d"))  # fmt: skip
    assert store.zrange_from("pw:t:z", 1, 0, 10) == [("c", 1.0), ("a", 5.0), ("b", 5.0)]
    assert store.zrange_from("pw:t:z", -(2**53), 1, 2) == [("c", 1.0), ("a", 5.0)]
    assert store.zrange_from("pw:t:z", 5, 1, 5) == [("b", 5.0)]
    assert store.zrange_from("pw:t:none", 0, 0, 5) == []
    assert store.zcard_many(["pw:t:z", "pw:t:none"]) == [4, 0]


def test_listings_read_the_same_from_both_stores(store: Store) -> None:
    records = full_story().records
    reference = fold_log(records)
    fold_log(records, store)
    for requester in ("acme", "zeta", "nobody"):
        assert listings.batches_page(store, requester, None, 3) == listings.batches_page(
            reference, requester, None, 3)
        assert listings.submissions_page(store, requester, "submitted", None, None, 5) == (
            listings.submissions_page(reference, requester, "submitted", None, None, 5))
    for owner, batch in (("acme", "b1"), ("zeta", "b2")):
        assert listings.batch_progress(store, owner, batch) is not None
        assert listings.batch_progress(store, owner, batch) == listings.batch_progress(
            reference, owner, batch)
        assert list(listings.results(store, owner, batch, 2)) == list(
            listings.results(reference, owner, batch, 2))
        for status in (None, *batches.TASK_STATUSES):
            assert listings.batch_tasks_page(store, owner, batch, status, None, 2) == (
                listings.batch_tasks_page(reference, owner, batch, status, None, 2))


def test_zsync_follows_the_free_counter(store: Store) -> None:
    meta = "pw:t:task:1"
    run(store, hset(meta, "zset", "pw:t:open"), hset(meta, "score", 7), zsync_op(meta, "t1"),
        hincrby(meta, "free", 2), zsync_op(meta, "t1"))  # fmt: skip
    assert store.zrange_many([("pw:t:open", 0, -1)]) == [[("t1", 7.0)]]
    run(store, hincrby(meta, "free", -2), zsync_op(meta, "t1"), offset=1)
    assert store.scan("pw:t:open") == []
    run(store, hdel(meta, "zset"), hincrby(meta, "free", 5), zsync_op(meta, "t1"), offset=2)
    assert store.scan("pw:t:open") == []  # without its set name a task is never re-added
    run(store, zsync_op("pw:t:task:missing", "t2"), offset=3)
    assert store.scan("pw:t:") == ["pw:t:task:1"]


def test_zsync_with_a_tally_sums_its_members_and_syncs_the_group(store: Store) -> None:
    group = "pw:t:meta:g"
    run(store, hset(group, "zset", "pw:t:groups"), hset(group, "score", 9),
        hset(group, "group_id", "g"))  # fmt: skip
    for n, task in enumerate(("a", "b")):
        meta = f"pw:t:task:{task}"
        run(store, hset(meta, "zset", "pw:t:tasks"), hset(meta, "score", n),
            hset(meta, "tally", group), hincrby(meta, "free", 2), zsync_op(meta, task),
            offset=n + 1)  # fmt: skip
    assert store.hgetall(group)["free"] == "4" and store.hgetall(group)["open_tasks"] == "2"
    assert store.zrange_many([("pw:t:groups", 0, -1)]) == [[("g", 9.0)]]
    run(store, hincrby("pw:t:task:a", "free", -2), zsync_op("pw:t:task:a", "a"), offset=3)
    assert (store.hgetall(group)["free"], store.hgetall(group)["open_tasks"]) == ("2", "1")
    assert store.hgetall("pw:t:task:a") == {"free": "0", "zset": "pw:t:tasks", "score": "0",
                                            "tally": group}  # fmt: skip
    run(store, hincrby("pw:t:task:b", "free", -(1 << 40)), zsync_op("pw:t:task:b", "b"),
        hincrby("pw:t:task:b", "free", 1), zsync_op("pw:t:task:b", "b"), offset=4)  # fmt: skip
    assert (store.hgetall(group)["free"], store.hgetall(group)["open_tasks"]) == ("0", "0")
    assert store.scan("pw:t:groups") == [] and store.scan("pw:t:tasks") == []
    run(store, hincrby("pw:t:task:a", "free", 1), zsync_op("pw:t:task:a", "a"), offset=5)
    assert store.zrange_many([("pw:t:groups", 0, -1)]) == [[("g", 9.0)]]
    assert store.hgetall(group)["free"] == "1"


def test_hsetshared_stores_a_value_once_while_the_members_agree(store: Store) -> None:
    key = "pw:t:bucket"
    run(store, hsetshared(key, "~zset", "0.zset", "pw:t:a"),
        hsetshared(key, "~zset", "1.zset", "pw:t:a"),
        hsetshared(key, "~zset", "2.zset", "pw:t:b"))  # fmt: skip
    assert store.hgetall(key) == {"~zset": "pw:t:a", "2.zset": "pw:t:b"}
    run(store, hset(key, "1.zset", "pw:t:c"), hsetshared(key, "~zset", "1.zset", "pw:t:a"),
        hincrby(key, "~n", 3), hsetshared(key, "~n", "0.n", 3), offset=1)  # fmt: skip
    assert store.hgetall(key) == {"~zset": "pw:t:a", "2.zset": "pw:t:b", "~n": "3"}


def test_zsync_with_a_prefix_reads_its_member_else_the_shared_fields(store: Store) -> None:
    bucket, group = "pw:t:bucket:0", "pw:t:meta:g"
    run(store, hset(group, "zset", "pw:t:groups"), hset(group, "score", 9),
        hset(group, "group_id", "g"))  # fmt: skip
    for n, (task, score) in enumerate((("0", 5), ("1", 5), ("2", 7))):
        p = task + "."
        run(store, hsetshared(bucket, "~zset", p + "zset", "pw:t:tasks"),
            hsetshared(bucket, "~score", p + "score", score),
            hsetshared(bucket, "~tally", p + "tally", group), hincrby(bucket, p + "free", 2),
            zsync_op(bucket, f"t{task}", p), offset=n + 1)  # fmt: skip
    assert store.zrange_many([("pw:t:tasks", 0, -1)]) == [[("t0", 5.0), ("t1", 5.0),
                                                          ("t2", 7.0)]]  # fmt: skip
    assert (store.hgetall(group)["free"], store.hgetall(group)["open_tasks"]) == ("6", "3")
    assert store.hgetall(bucket) == {"~zset": "pw:t:tasks", "~score": "5", "~tally": group,
                                     "2.score": "7", "0.free": "2", "1.free": "2",
                                     "2.free": "2", "0.counted": "2", "1.counted": "2",
                                     "2.counted": "2"}  # fmt: skip
    run(store, hincrby(bucket, "2.free", -(1 << 40)), zsync_op(bucket, "t2", "2."),
        hdel(bucket, "2.zset", "2.score", "2.tally", "2.counted"),
        hincrby(bucket, "2.free", 1), zsync_op(bucket, "t2", "2."),  # falls back: still out
        hincrby(bucket, "0.free", -2), zsync_op(bucket, "t0", "0."), offset=4)  # fmt: skip
    assert store.zrange_many([("pw:t:tasks", 0, -1)]) == [[("t1", 5.0)]]
    assert (store.hgetall(group)["free"], store.hgetall(group)["open_tasks"]) == ("2", "1")
    assert "0.counted" not in store.hgetall(bucket)
    assert store.zrange_many([("pw:t:groups", 0, -1)]) == [[("g", 9.0)]]


def test_feed_scores_by_position_keeps_a_window_and_records_the_floor(store: Store) -> None:
    base = "pw:t:feed"
    for n in range(5):  # two partitions, positions far above 2**32
        run(store, feed(base, f"m{n}", 3), offset=2**40 + n, partition=n % 2)
    assert store.zrange_from_many([(f"{base}:0", 0, 10), (f"{base}:1", 0, 10)]) == [
        [("m0", 2**40), ("m2", 2**40 + 2), ("m4", 2**40 + 4)], [("m1", 2**40 + 1),
                                                                  ("m3", 2**40 + 3)]]
    assert store.hgetall(feed_floor_key(base)) == {}
    run(store, feed(base, "m5", 3), offset=2**40 + 5, partition=0)
    assert [m for m, _ in store.zrange_from(f"{base}:0", 0, 0, 10)] == ["m2", "m4", "m5"]
    assert store.hgetall(feed_floor_key(base)) == {"0": str(2**40)}


def test_large_integers_cross_the_store_exactly(store: Store) -> None:
    # Lua numbers are doubles printed with 14 digits: amounts must never travel as numbers.
    big, score = 10**15 + 7, 2**53 - 1
    h = "pw:t:h"
    run(store, hincrby(h, "n", big), hincrby(h, "n", big), hset(h, "s", 2**62 + 1),
        zadd("pw:t:z", score, "m"), offset=2**50)  # fmt: skip
    assert store.hgetall("pw:t:h") == {"n": str(2 * big), "s": str(2**62 + 1)}
    assert store.zrange_many([("pw:t:z", 0, 0)]) == [[("m", float(score))]]
    assert store.offsets(OFFSETS) == {0: 2**50}


def test_entries_at_or_below_the_stored_offset_are_skipped(store: Store) -> None:
    entries = [Entry(OFFSETS, 0, n, (hincrby("pw:t:h", "n", 1),)) for n in range(3)]
    assert store.apply(entries) == 3
    assert store.apply(entries[1:]) == 0
    assert store.apply([*entries, Entry(OFFSETS, 0, 3, (hincrby("pw:t:h", "n", 10),))]) == 1
    assert run(store, hincrby("pw:t:h", "n", 100), partition=1) == 1  # partitions are apart
    other = Entry(offsets_key("other"), 0, 0, (hincrby("pw:t:h", "n", 1000),))
    assert store.apply([other, other]) == 1  # and so are views; in-batch repeats are caught
    assert store.hgetall("pw:t:h") == {"n": "1113"}
    assert store.offsets(OFFSETS) == {0: 3, 1: 0}


def test_an_unknown_op_refuses_the_whole_batch(store: Store) -> None:
    good = Entry(OFFSETS, 0, 0, (hset("pw:t:h", "a", 1),))
    bad = Entry(OFFSETS, 0, 1, (("DEL", "pw:t:h"),))
    with pytest.raises((ValueError, redis.ResponseError), match="unknown op"):
        store.apply([good, bad])
    assert store.scan("pw:") == []


def test_using_a_key_as_two_types_fails(store: Store) -> None:
    run(store, hset("pw:t:k", "a", 1))
    with pytest.raises((TypeError, redis.ResponseError)):
        run(store, sadd("pw:t:k", "x"), offset=1)


def test_scan_matches_the_prefix_literally(store: Store) -> None:
    run(store, sadd("pw:t:a*b", "1"), sadd("pw:t:a*", "1"), sadd("pw:t:ab", "1"), sadd("pw:u", "1"))
    assert store.scan("pw:t:a*") == ["pw:t:a*", "pw:t:a*b"]
    assert store.scan("pw:t:") == ["pw:t:a*", "pw:t:a*b", "pw:t:ab"]


def test_the_digest_sees_content_not_offsets(store: Store) -> None:
    empty = store.digest("pw:t:")
    run(store, hset("pw:t:h", "a", 1))
    first = store.digest("pw:t:")
    assert first != empty
    run(store, hset("pw:t:h", "a", 1), offset=5)  # same content, later offset
    assert store.digest("pw:t:") == first


def test_the_same_log_builds_identical_views_and_digests(store: Store) -> None:
    records = full_story().records
    reference = fold_log(records, batch=len(records), views=LIVE_VIEWS)
    fold_log(records, store, batch=7, views=LIVE_VIEWS)
    for view in registry.ALL:
        assert list(store.dump(view.prefix)) == list(reference.dump(view.prefix)), view.name
    assert list(store.dump("pw:feed:")), "the story's events are in the feed"
    assert digests(store, LIVE_VIEWS) == digests(reference, LIVE_VIEWS)
    assert apply_batch(store, records, LIVE_VIEWS) == 0  # a full redelivery is a no-op
    assert apply_batch(store, records[-5:]) == 0
    assert digests(store) == digests(reference)


def test_queries_read_the_same_from_both_stores(store: Store) -> None:
    records = full_story().records
    reference = fold_log(records)
    fold_log(records, store)
    for reader in (store, reference):
        assert queue_query.candidates(reader, "walt", ["fr", "audio"], 5) == ["acme:b1:2"]
        assert queue_query.candidates(reader, "nina", ["fr", "audio"], 5) == [
            "acme:b1:0", "acme:b1:2",
        ]  # fmt: skip
    assert deadlines.due(store, 2 * 10**12, 10) == deadlines.due(reference, 2 * 10**12, 10)
    assert len(deadlines.due(store, 2 * 10**12, 10)) == 3
    assert ledger.ledger_totals(store) == ledger.ledger_totals(reference)
    assert ledger.violations(ledger.ledger_totals(store)) == []
    assert power.worker_times(store, "wanda") == power.worker_times(reference, "wanda")


def test_the_redis_store_needs_decoded_responses() -> None:
    client = redis_client()
    raw = redis.Redis(connection_pool=redis.ConnectionPool(**{
        **client.get_connection_kwargs(), "decode_responses": False,
    }))  # fmt: skip
    with pytest.raises(ValueError, match="decode_responses"):
        RedisStore(raw)
    client.close()
    raw.close()
