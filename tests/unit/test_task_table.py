"""TaskTable behaves exactly like a dict of Tasks, whichever way it stores each task."""

import random

import pytest

from broker.domain.task_state import evolve_task
from broker.domain.task_table import TaskTable
from schemas import events as ev
from schemas.ids import make_claim_id
from tests.unit import domain_kit as k


def posted(task_id: str, reward: int = k.REWARD) -> ev.TaskPosted:
    return k.task_posted(task_id=task_id, reward=reward)


def claimed(task_id: str, n: int) -> ev.TaskClaimed:
    return ev.TaskClaimed(task_id, make_claim_id(task_id, n), k.W, k.T0 + k.LEASE_MS)


@pytest.mark.parametrize("seed", range(20))
def test_a_random_history_reads_the_same_as_a_dict(seed):
    rng = random.Random(seed)
    table, plain = TaskTable(), {}
    batches = {f"acme:b{b}": 0 for b in range(4)} | {"rival:x": 0}
    for _ in range(400):
        roll = rng.random()
        if roll < 0.6:  # post a task: mostly the next of its batch, sometimes out of order
            batch = rng.choice(list(batches))
            index = batches[batch] if rng.random() < 0.8 else rng.randint(0, 30)
            task_id = f"{batch}:{index}" if rng.random() < 0.95 else f"{batch}:0{index}"
            batches[batch] = max(batches[batch], index + 1)
            if task_id in plain:
                continue
            event = posted(task_id, rng.choice([k.REWARD, 70_000]))
        elif plain:  # touch a known task
            task_id = rng.choice(sorted(plain))
            event = claimed(task_id, plain[task_id].claim_count)
        else:
            continue
        table[task_id] = plain[task_id] = evolve_task(plain.get(task_id), event)
        assert table[task_id] == plain[task_id]
    assert len(table) == len(plain)
    assert sorted(table) == sorted(plain)
    assert dict(table.items()) == plain
    assert all(task_id in table for task_id in plain)
    assert "acme:b0:999" not in table and "nope" not in table and 3 not in table
    with pytest.raises(KeyError):
        table["acme:b9:0"]


def test_untouched_tasks_of_a_batch_share_their_terms():
    table = TaskTable()
    for i in range(1_000):
        table[f"acme:b1:{i}"] = evolve_task(None, posted(f"acme:b1:{i}"))
    assert len(table._tasks) == 0 and len(table._batches["acme:b1"]) == 1_000
    assert table["acme:b1:7"].terms is table["acme:b1:8"].terms
    table["acme:b1:7"] = evolve_task(table["acme:b1:7"], claimed("acme:b1:7", 0))
    assert table["acme:b1:7"].claim_count == 1 and table["acme:b1:8"].claim_count == 0
    assert len(table) == 1_000 and len(table._tasks) == 1


def test_tasks_are_never_removed():
    table = TaskTable()
    table["acme:b1:0"] = evolve_task(None, posted("acme:b1:0"))
    with pytest.raises(TypeError):
        del table["acme:b1:0"]
