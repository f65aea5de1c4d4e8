"""The views' position lives with the view data: a fresh or flushed Redis is rebuilt.

A real views process (Faust) folds a realistic log produced raw into a topic of its own;
the group's committed offsets say "done", the store says "nothing": the store wins.
"""

from __future__ import annotations

import os
import time

import pytest
import redis
from kafka.admin import KafkaAdminClient

from consumers.engine.runner import apply_batch, digests
from consumers.engine.view_position import EPOCH_KEY, PositionedStore, StoreFlushed, next_offsets
from consumers.engine.worker import EXIT_REBUILD
from consumers.stores.ops import offsets_key
from consumers.stores.redis_store import RedisStore
from deploy.topics import create_topics
from runtime.settings import Settings
from schemas.positions import offset_of, position
from schemas.topics import Topics
from testkit.replay_log import make_log
from testkit.stack_processes import OWNER_KEY
from testkit.views_kit import (
    fold_digests,
    last_offsets,
    own_db,
    produce,
    read_log,
    start_views,
    stop,
    wait_caught_up,
)

PARTITIONS = 4
DBS = (4, 5, 6, 7, 8)


def test_next_offsets_take_the_least_advanced_view() -> None:
    # Positions: the record of the least advanced view is read again (it may not be done).
    views = [{0: position(10, 3), 1: position(5)}, {0: position(7, 1), 1: position(9)}]
    assert next_offsets(views, [0, 1, 2]) == {0: 7, 1: 5, 2: None}
    assert next_offsets([{0: 3}, {}], [0]) == {0: None}
    assert next_offsets([], [0]) == {0: None}


def test_the_guarded_apply_writes_nothing_once_the_store_was_flushed(
    redis_url, unique_name
) -> None:
    log = make_log(1_200, partitions=PARTITIONS)
    with own_db(redis_url, DBS, unique_name) as url:
        store = PositionedStore.from_url(url)
        try:
            assert store.positions(range(PARTITIONS)) == dict.fromkeys(range(PARTITIONS))
            apply_batch(store, log[:600])
            assert store.positions([0]) == next_offsets(
                [store.offsets(offsets_key(v)) for v in store.views], [0]
            )
            _flush(url, unique_name)
            with pytest.raises(StoreFlushed):
                apply_batch(store, log[600:])
            assert store.client.keys("pw:*") == [OWNER_KEY], "a batch reached the flushed store"
            with pytest.raises(StoreFlushed):
                store.positions([0])  # a new epoch is not this worker's
            fresh = PositionedStore.from_url(url)  # the restarted worker
            assert fresh.positions([0, 1]) == {0: None, 1: None}
            apply_batch(fresh, log)
            assert digests(fresh) == fold_digests(log)
            fresh.client.close()
        finally:
            store.client.close()


def _setup(kafka: str, redis_url: str, name: str) -> tuple[Settings, dict[str, str]]:
    settings = Settings(kafka=kafka, redis=redis_url, topics=Topics(name), partitions=PARTITIONS)
    create_topics(kafka, settings.topics.creation_configs(), PARTITIONS)
    env = {
        "PIECEWORK_KAFKA": kafka,
        "PIECEWORK_REDIS": redis_url,
        "PIECEWORK_TOPIC_PREFIX": name,
        "PIECEWORK_PARTITIONS": str(PARTITIONS),
        # The worker runs the code under test, not the venv's install of another tree.
        **{k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ},
    }
    return settings, env


def _drop(kafka: str, prefix: str) -> None:
    with KafkaAdminClient(bootstrap_servers=kafka) as admin:
        admin.delete_topics([t for t in admin.list_topics() if t.startswith(prefix)],
                            raise_errors=False)  # fmt: skip


def _flush(url: str, tag: str) -> None:
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.set(OWNER_KEY, tag, ex=3600)
    client.close()


def _committed(kafka: str, settings: Settings) -> dict[int, int]:
    with KafkaAdminClient(bootstrap_servers=kafka) as admin:
        found = admin.list_group_offsets({f"{settings.topics.prefix}-views": None})
    mine = next(iter(found.values()), {})
    return {tp.partition: m.offset for tp, m in mine.items() if tp.topic == settings.topics.events}


@pytest.mark.timeout(300)
def test_a_fresh_store_is_rebuilt_whatever_the_group_committed(
    kafka_bootstrap, redis_url, unique_name, tmp_path
) -> None:
    log = make_log(6_000, partitions=PARTITIONS)
    with own_db(redis_url, DBS, unique_name) as url:
        settings, env = _setup(kafka_bootstrap, url, unique_name)
        store = RedisStore.from_url(url)
        try:
            produce(kafka_bootstrap, settings.topics.events, log[:3_000])
            first = start_views(env, "a", tmp_path / "views.log")
            half = read_log(kafka_bootstrap, settings.topics.events)
            wait_caught_up(store, last_offsets(half), 90)
            stop(first)  # graceful: the group commits its offsets
            committed = _committed(kafka_bootstrap, settings)
            assert sum(committed.values()) > 0, committed

            _flush(url, unique_name)  # a fresh Redis: nothing stored, the group says "done"
            produce(kafka_bootstrap, settings.topics.events, log[3_000:])
            second = start_views(env, "a", tmp_path / "views.log")
            full = read_log(kafka_bootstrap, settings.topics.events)
            took = wait_caught_up(store, last_offsets(full), 90)
            assert digests(store) == fold_digests(full)
            stop(second)
            text = (tmp_path / "views.log").read_text()
            assert "views resume from the store, not the group" in text
            # The group's offsets followed the store, so the broker's lag was truthful.
            # A raw log has no transaction markers: caught up is committed == last + 1.
            assert _committed(kafka_bootstrap, settings) == {
                p: offset_of(pos) + 1 for p, pos in last_offsets(full).items()
            }
            print(f"rebuilt {len(full):,} events from a fresh store in {took:.1f}s")
        finally:
            store.client.close()
            _drop(kafka_bootstrap, unique_name)


@pytest.mark.timeout(300)
def test_a_flush_under_a_running_worker_makes_it_exit_and_the_restart_rebuilds(
    kafka_bootstrap, redis_url, unique_name, tmp_path
) -> None:
    log = make_log(20_000, partitions=PARTITIONS)
    with own_db(redis_url, DBS, unique_name) as url:
        settings, env = _setup(kafka_bootstrap, url, unique_name)
        store = RedisStore.from_url(url)
        try:
            produce(kafka_bootstrap, settings.topics.events, log)
            records = read_log(kafka_bootstrap, settings.topics.events)
            last = last_offsets(records)
            views = start_views(env, "a", tmp_path / "views.log")
            # Flush mid-stream: the worker is applying batches when its store vanishes.
            deadline = time.monotonic() + 60
            while store.client.get(EPOCH_KEY) is None or not store.client.exists(
                "pw:ledger:offsets"
            ):
                assert time.monotonic() < deadline and views.poll() is None
                time.sleep(0.05)
            _flush(url, unique_name)
            flushed_at = time.monotonic()
            assert views.wait(timeout=30) == EXIT_REBUILD
            print(f"the worker exited {time.monotonic() - flushed_at:.2f}s after the flush")
            assert "views store flushed" in (tmp_path / "views.log").read_text()

            views = start_views(env, "a", tmp_path / "views.log")  # what the supervisor does
            took = wait_caught_up(store, last, 120, lambda: _alive(views))
            assert digests(store) == fold_digests(records)
            print(f"rebuilt {len(records):,} events after the flush in {took:.1f}s")

            _flush(url, unique_name)  # idle this time: the epoch watch notices
            assert views.wait(timeout=30) == EXIT_REBUILD
            views = start_views(env, "a", tmp_path / "views.log")
            wait_caught_up(store, last, 120, lambda: _alive(views))
            assert digests(store) == fold_digests(records)
            stop(views)
        finally:
            store.client.close()
            _drop(kafka_bootstrap, unique_name)


def _alive(proc) -> None:  # type: ignore[no-untyped-def]
    assert proc.poll() is None, f"the views worker exited with {proc.returncode}"
