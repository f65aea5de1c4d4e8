"""GrowSet: an immutable set whose versions share storage."""

from broker.domain.growset import GrowSet


def test_add_returns_a_new_version_and_leaves_the_old_one():
    empty = GrowSet()
    one = empty.add("a")
    two = one.add("b")
    assert "a" not in empty and len(empty) == 0
    assert "a" in one and "b" not in one and list(one) == ["a"]
    assert list(two) == ["a", "b"] and len(two) == 2


def test_adding_a_member_again_is_the_same_version():
    one = GrowSet(["a"])
    assert one.add("a") is one


def test_branching_from_an_old_version_does_not_leak():
    base = GrowSet(["a"])
    left = base.add("b")
    right = base.add("c")  # base is no longer the newest: copies before adding
    assert list(left) == ["a", "b"] and list(right) == ["a", "c"]
    assert "c" not in left and "b" not in right and list(base) == ["a"]
    assert list(left.add("d")) == ["a", "b", "d"] and "d" not in right


def test_equality_with_sets():
    assert GrowSet(["a", "b"]) == {"b", "a"} == GrowSet(["b", "a"])
    assert GrowSet(["a"]) != GrowSet(["a", "b"])
    assert GrowSet() != ["x"]
