"""listings.results reads a bounded number of submissions per round trip: a page of 200
tasks with up to 1,000 assignments each must not be 200,000 hashes in one call."""

from __future__ import annotations

from consumers.engine.runner import fold_log
from consumers.queries import listings as q
from consumers.views import batches as bv
from consumers.views import tasks_view as tv
from tests.view_story import Story

VIEWS = {bv.VIEW: bv.project, tv.VIEW: tv.project}
ASSIGNMENTS, TASKS = 50, 40
MAX_ROWS_HELD = q.RESULT_READ


class Spy:
    """A Reader that records the largest hgetall_many it was asked for."""

    def __init__(self, inner):
        self.inner, self.largest = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def hgetall_many(self, keys):
        self.largest = max(self.largest, len(keys))
        return self.inner.hgetall_many(keys)


def test_results_read_a_bounded_number_of_submissions_at_once() -> None:
    s = Story()
    for task in s.post("acme", "survey.0", count=TASKS, assignments=ASSIGNMENTS):
        for w in range(ASSIGNMENTS):
            s.submit(s.claim(task, f"w{w}"))
    spy = Spy(fold_log(s.records, views=VIEWS))
    rows = list(q.results(spy, "acme", "survey"))
    assert len(rows) == TASKS * ASSIGNMENTS
    assert spy.largest <= MAX_ROWS_HELD, f"{spy.largest} submission hashes read in one call"
