"""A suite's plan: candidates per round, the claims wanted shared among requester groups."""

from __future__ import annotations

import random

from broker.api.claim_plan import pack_suite, shares, suite_suffix, suite_take, unpack_suite
from schemas.commands import MAX_SUITE_CANDIDATES, MAXIMUM_SUITE


def groups(*sizes: int) -> list[tuple[str, ...]]:
    return [tuple(f"r{k}:b:{i}" for i in range(n)) for k, n in enumerate(sizes)]


def test_shares_add_up_to_what_is_wanted_and_fit_each_group() -> None:
    assert shares(groups(60), 20) == [20]
    assert shares(groups(30, 30), 20) == [10, 10]
    assert shares(groups(45, 15), 20) == [15, 5]
    assert shares(groups(3, 2), 20) == [3, 2]  # fewer candidates than wanted: all of them
    assert shares([], 5) == []
    rnd = random.Random(3)
    for _ in range(2_000):
        sizes = [rnd.randint(1, 60) for _ in range(rnd.randint(1, 6))]
        wanted = rnd.randint(1, MAXIMUM_SUITE)
        got = shares(groups(*sizes), wanted)
        assert sum(got) == min(wanted, sum(sizes))
        assert all(0 <= n <= size for n, size in zip(got, sizes, strict=True))


def test_suite_take_is_bounded_by_what_one_command_carries() -> None:
    assert suite_take(1) >= 3 and suite_take(MAXIMUM_SUITE) <= MAX_SUITE_CANDIDATES


def test_a_memory_entry_holds_the_group_and_its_count() -> None:
    group = ("r:b:1", "r:b:7")
    assert unpack_suite(pack_suite(group, 12)) == (group, 12)
    assert suite_suffix(group, 12) != suite_suffix(group, 11)  # another count, another command
