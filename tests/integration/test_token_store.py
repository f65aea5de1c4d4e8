"""TokenStore against a real Redis: issue, list, rotate, revoke, and the cache's bound.

Each test has its own key namespace on the test DB (the `redis_client` fixture deletes it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis
from redis.asyncio import Redis

from broker.api.auth import Actor, AuthError, TokenStore, _encode, token_digest, token_id
from broker.api.token_keys import TokenKeys


def run_with_stores(url: str, namespace: str, n: int,
                    body: Callable[..., Awaitable[Any]]) -> Any:
    """`n` TokenStores on one Redis, each with its own client: as n API processes."""

    async def main() -> Any:
        clients = [Redis.from_url(url) for _ in range(n)]
        try:
            return await body(*(TokenStore(c, namespace) for c in clients))
        finally:
            for c in clients:
                await c.aclose()

    return asyncio.run(main())


async def accepted(store: TokenStore, token: str) -> bool:
    try:
        await store.authenticate(f"Bearer {token}")
        return True
    except AuthError as exc:
        assert exc.status == 401
        return False


def index_agrees(db: redis.Redis, keys: TokenKeys, actor_id: str) -> None:
    """Every digest in the actor's set is a live token of that actor, and the reverse."""
    in_set = {d.decode() for d in db.smembers(keys.of_actor(actor_id))}
    in_hash = {d.decode() for d, v in db.hgetall(keys.tokens).items()
               if v.decode().split("|")[1] == actor_id}
    assert in_set == in_hash


def test_issue_list_rotate_and_revoke(redis_test_url, redis_client, unique_name) -> None:
    keys = TokenKeys(unique_name)

    async def body(store: TokenStore) -> None:
        first = await store.register(Actor("ana", "worker", ("fr", "de")))
        assert await store.token_ids("ana") == [token_id(token_digest(first))]
        second = await store.issue("ana")
        assert second is not None and second.revoked == []
        assert sorted(await store.token_ids("ana")) == sorted(
            [token_id(token_digest(first)), second.token_id])
        assert await accepted(store, first) and await accepted(store, second.token)

        rotated = await store.issue("ana", revoke_existing=True)
        assert rotated is not None
        assert rotated.revoked == sorted([token_id(token_digest(first)), second.token_id])
        assert await store.token_ids("ana") == [rotated.token_id]
        # The revoking store forgets at once, cache or not.
        assert not await accepted(store, first) and not await accepted(store, second.token)
        actor = await store.authenticate(f"Bearer {rotated.token}")
        assert actor == Actor("ana", "worker", ("fr", "de"))
        index_agrees(redis_client, keys, "ana")

        assert await store.revoke("ana", "0" * 16) == []
        assert await store.revoke("ana", rotated.token_id) == [rotated.token_id]
        assert await store.token_ids("ana") == []
        assert not await accepted(store, rotated.token)
        # No token left: a new one still knows who ana is, qualifications included.
        again = await store.issue("ana")
        assert again is not None
        assert await store.authenticate(f"Bearer {again.token}") == actor
        assert await store.revoke("ana") == [again.token_id]
        index_agrees(redis_client, keys, "ana")

    run_with_stores(redis_test_url, unique_name, 1, body)


def test_unknown_actors_are_none_not_empty(redis_test_url, redis_client, unique_name) -> None:
    async def body(store: TokenStore) -> None:
        assert await store.issue("ghost") is None
        assert await store.token_ids("ghost") is None
        assert await store.revoke("ghost") is None
        assert await store.revoke("ghost", "0" * 16) is None
        assert await store.token_ids("ghost") is None  # issue made nothing on the way

    run_with_stores(redis_test_url, unique_name, 1, body)
    assert not list(redis_client.scan_iter(match=f"{unique_name}:actor-tokens:*"))


def test_another_process_refuses_a_revoked_token_within_the_cache_bound(
    redis_test_url, redis_client, unique_name
) -> None:
    async def body(a: TokenStore, b: TokenStore) -> float:
        token = await a.register(Actor("rita", "requester"))
        assert await accepted(b, token)  # b has it cached now
        await a.revoke("rita")
        revoked_at = time.monotonic()
        # Whatever b's cache holds, a request that starts CACHE_SECONDS later is refused.
        while await accepted(b, token):
            await asyncio.sleep(0.01)
        took = time.monotonic() - revoked_at
        await asyncio.sleep(TokenStore.CACHE_SECONDS)
        assert not await accepted(b, token)
        return took

    took = run_with_stores(redis_test_url, unique_name, 2, body)
    print(f"the other store refused the revoked token after {took * 1000:.0f} ms")
    assert took < 60  # a generous deadline; the bound itself is checked just above


def test_a_read_that_raced_with_a_revocation_is_not_cached(
    redis_test_url, redis_client, unique_name
) -> None:
    async def body(store: TokenStore) -> None:
        token = await store.register(Actor("wim", "worker"))
        real_hget = store.redis.hget

        async def hget_then_revoke(*args: Any) -> Any:
            value = await real_hget(*args)  # read while still live...
            await store.revoke("wim")  # ...revoked before the reader resumes
            return value

        store.redis.hget = hget_then_revoke  # type: ignore[method-assign]
        assert await accepted(store, token)  # it was live when read: this one passes
        store.redis.hget = real_hget  # type: ignore[method-assign]
        assert not await accepted(store, token)  # but it was not cached

    run_with_stores(redis_test_url, unique_name, 1, body)


def test_tokens_made_before_the_index_are_revocable(
    redis_test_url, redis_client, unique_name
) -> None:
    keys = TokenKeys(unique_name)
    legacy = {"old-1": Actor("olga", "worker", ("fr",)), "old-2": Actor("olga", "worker", ("fr",)),
              "old-3": Actor("otto", "requester")}
    for token, actor in legacy.items():  # what the store wrote before the index existed
        redis_client.hset(keys.actors, actor.actor_id, actor.role)
        redis_client.hset(keys.tokens, token_digest(token), _encode(actor))

    async def body(store: TokenStore) -> None:
        assert await accepted(store, "old-1")
        assert len(await store.token_ids("olga") or []) == 2
        revoked = await store.revoke("olga")
        assert revoked is not None and len(revoked) == 2
        assert not await accepted(store, "old-1") and not await accepted(store, "old-2")
        assert await accepted(store, "old-3")
        fresh = await store.issue("olga")  # the profile came from an old token
        assert fresh is not None
        assert (await store.authenticate(f"Bearer {fresh.token}")).qualifications == ("fr",)

    run_with_stores(redis_test_url, unique_name, 1, body)
    assert redis_client.get(keys.indexed) == b"1"
    index_agrees(redis_client, keys, "otto")


@pytest.mark.parametrize("revoke_existing", [False, True])
def test_the_index_and_the_hash_agree_under_concurrent_changes(
    redis_test_url, redis_client, unique_name, revoke_existing
) -> None:
    async def body(*stores: TokenStore) -> None:
        await stores[0].register(Actor("cora", "worker"))
        ops = []
        for i in range(60):
            store = stores[i % len(stores)]
            ops.append(store.issue("cora", revoke_existing) if i % 3 else store.revoke("cora"))
        await asyncio.gather(*ops)

    run_with_stores(redis_test_url, unique_name, 3, body)
    index_agrees(redis_client, TokenKeys(unique_name), "cora")
