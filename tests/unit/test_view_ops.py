"""The op language: values normalised to the strings Redis stores, bugs refused early."""

from __future__ import annotations

import pytest

from consumers.stores.ops import hdel, hincrby, hset, hset_many, is_offsets_key, offsets_key, zadd


def test_values_are_stored_as_strings() -> None:
    assert hset("k", "f", 12) == ("HSET", "k", "f", "12")
    assert hincrby("k", "f", -3) == ("HINCRBY", "k", "f", "-3")
    assert zadd("z", 2**53 - 1, "m") == ("ZADD", "z", str(2**53 - 1), "m")
    assert hset_many("k", {"a": 1, "b": None, "c": "x"}) == [("HSET", "k", "a", "1", "c", "x")]
    assert hset_many("k", {"b": None}) == []
    assert hdel("k", "a", "b") == ("HDEL", "k", "a", "b")


@pytest.mark.parametrize(
    "make",
    [
        lambda: hset("k", "f", True),
        lambda: hset("k", "f", 1.5),
        lambda: hincrby("k", "f", "1"),
        lambda: zadd("z", 2**53, "m"),
        lambda: zadd("z", 1.0, "m"),
    ],
)
def test_floats_bools_and_inexact_scores_are_refused(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises((TypeError, ValueError)):
        make()


def test_only_the_view_offsets_hash_is_an_offsets_key() -> None:
    assert is_offsets_key(offsets_key("queue"))
    assert not is_offsets_key("pw:ledger:worker:offsets:EUR")
    assert not is_offsets_key("pw:tasks:task:a:b:offsets")
