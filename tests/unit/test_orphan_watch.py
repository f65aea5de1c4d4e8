"""The processor's rejoin rule: only when the whole group leaves partitions unowned."""

from __future__ import annotations

from broker.processor.orphan_watch import OrphanWatch, owned_partitions

DESCRIBED = {"members": [
    {"member_assignment": {"assigned_partitions": [
        {"topic": "p.commands", "partitions": [0, 1]},
        {"topic": "other", "partitions": [2]}]}},
    {"member_assignment": {"assigned_partitions": []}},
    {"member_assignment": None},
]}


def test_owned_partitions_counts_every_member_of_the_named_topic_only() -> None:
    assert owned_partitions(DESCRIBED, "p.commands") == {0, 1}
    assert owned_partitions({}, "p.commands") == set()


class Watch(OrphanWatch):
    def __init__(self, owned: set[int] | None) -> None:
        super().__init__("b", "g", "p.commands", grace_s=30)
        self.owned, self.asked = owned, 0

    def _owned_by_group(self) -> set[int] | None:
        self.asked += 1
        return self.owned


def test_an_instance_owning_nothing_rejoins_after_the_grace_if_the_group_owns_too_little() -> None:
    watch = Watch(owned=set())
    assert not watch.should_rejoin(False, 4, now=0.0)
    assert not watch.should_rejoin(False, 4, now=29.9)
    assert watch.asked == 0
    assert watch.should_rejoin(False, 4, now=30.0)
    assert not watch.should_rejoin(False, 4, now=31.0)  # next question after another grace
    assert watch.asked == 1


def test_a_standby_never_rejoins_while_the_others_own_every_partition() -> None:
    watch = Watch(owned={0, 1, 2, 3})
    assert not any(watch.should_rejoin(False, 4, now=t) for t in range(0, 200, 5))
    assert watch.asked >= 5


def test_owning_a_partition_resets_the_clock_and_unknown_answers_do_not_rejoin() -> None:
    watch = Watch(owned=None)
    watch.should_rejoin(False, 4, now=0.0)
    assert not watch.should_rejoin(True, 4, now=25.0)
    assert not watch.should_rejoin(False, 4, now=40.0)  # idle since 40 only
    assert not watch.should_rejoin(False, 4, now=70.0)  # asked; the coordinator did not answer
    assert watch.asked == 1
    assert not watch.should_rejoin(False, 0, now=500.0)  # no topic metadata: nothing to own
