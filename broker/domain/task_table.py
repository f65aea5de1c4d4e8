"""The shard's tasks: a mapping from task id to Task that stores a million open tasks in
a few megabytes.

The processor holds every task of its partitions to decide claims. Most of them are
open and untouched: posted, never claimed. Such a task is nothing but its batch's terms
and its index, so it is stored as one slot of its batch (a list of shared `Terms`, 8
bytes a task) and materialised as a `Task` on lookup. The first change after TaskPosted
stores the evolved Task itself, which from then on shadows the slot. bench/memory.py's
shard at one million posted tasks (a tenth of them claimed): 860 MB RSS with a dict of
whole Tasks, 373 MB with shared Terms, 208 MB with this table.

A plain value for the domain: lookups return equal Tasks whichever way they are stored.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

from broker.domain.task_state import OPEN, Task, Terms


def _split(task_id: str) -> tuple[str, int] | None:
    """(batch key, index) of a `requester:batch:index` id in canonical form, else None."""
    batch, _, index = task_id.rpartition(":")
    if not batch or not index.isdigit() or (index[0] == "0" and index != "0"):
        return None
    return batch, int(index)


def _untouched(task: Task) -> bool:
    """As TaskPosted left it (version 1): all of it is in its terms."""
    return task.version == 1 and task.status == OPEN and not task.claims and not task.submissions


class TaskTable(MutableMapping[str, Task]):
    __slots__ = ("_batches", "_count", "_tasks")

    def __init__(self) -> None:
        self._batches: dict[str, list[Terms]] = {}  # batch key -> terms by index
        self._tasks: dict[str, Task] = {}  # tasks stored whole: touched, or off the pattern
        self._count = 0

    def _slot(self, task_id: str) -> Terms | None:
        split = _split(task_id)
        if split is None:
            return None
        slots = self._batches.get(split[0])
        if slots is None or split[1] >= len(slots):
            return None
        return slots[split[1]]

    def __getitem__(self, task_id: str) -> Task:
        task = self.get(task_id)
        if task is None:
            raise KeyError(task_id)
        return task

    def __contains__(self, task_id: object) -> bool:
        return isinstance(task_id, str) and (
            task_id in self._tasks or self._slot(task_id) is not None
        )

    def get(self, task_id: str, default: Task | None = None) -> Task | None:  # type: ignore[override]
        # Mapping.get goes through __getitem__ and a KeyError: the hot path of decide.
        task = self._tasks.get(task_id)
        if task is not None:
            return task
        terms = self._slot(task_id)
        return default if terms is None else Task(task_id, terms)

    def __setitem__(self, task_id: str, task: Task) -> None:
        if task_id in self._tasks:
            self._tasks[task_id] = task
            return
        split = _split(task_id)
        slots = None if split is None else self._batches.get(split[0])
        stored = slots is not None and split[1] < len(slots)  # type: ignore[index]
        if split is not None and not stored and _untouched(task):
            if slots is None:
                slots = self._batches[split[0]] = []
            if split[1] == len(slots):  # a batch's tasks are posted in index order
                slots.append(task.terms)
                self._count += 1
                return
        self._tasks[task_id] = task
        self._count += not stored

    def __delitem__(self, task_id: str) -> None:
        raise TypeError("tasks are never removed from the shard")

    def __iter__(self) -> Iterator[str]:
        for batch, slots in self._batches.items():
            for index in range(len(slots)):
                yield f"{batch}:{index}"
        for task_id in self._tasks:
            if self._slot(task_id) is None:
                yield task_id

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"TaskTable({len(self)} tasks, {len(self._tasks)} stored whole)"
