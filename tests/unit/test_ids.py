"""The ids piecework mints read back to what they name: a task's requester, a claim's task."""

from __future__ import annotations

import pytest

from broker.api.handlers_requester import task_of
from broker.api.responses import ApiError
from schemas.errors import SchemaError
from schemas.ids import make_claim_id, make_task_id, requester_of_task, task_id, task_of_claim


def test_a_claim_id_names_its_task_and_the_task_its_requester() -> None:
    task = make_task_id("acme", "b-1.x", 41)
    task_id("task_id", task)
    claim = make_claim_id(task, 3)
    assert claim == "acme:b-1.x:41:c3"
    assert task_of_claim(claim) == task and requester_of_task(task) == "acme"


@pytest.mark.parametrize(
    "bad", ["acme:b1:0", "acme:b1:0:c", "acme:b1:0:s3", "acme:b1:0:cx", "c3", "acme:b1:c3", ""]
)
def test_anything_else_is_no_claim(bad: str) -> None:
    with pytest.raises(SchemaError):
        task_of_claim(bad)
    with pytest.raises(ApiError) as raised:  # the API's answer: no such claim or submission
        task_of(bad)
    assert raised.value.status == 404 and raised.value.code == "not_found"
