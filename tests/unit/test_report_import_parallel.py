"""The report's and the import's parallel passes give the serial result, or step aside
(audit/report_replay.py, audit/importer.py)."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from audit import importer, parallel, report_replay
from audit.logfile import export
from audit.source import FileLog, ListLog
from audit.tracked_store import TrackedStore, merge
from consumers.power.report.history import History, merged
from consumers.power.snapshot import collect
from consumers.stores.ops import Entry
from schemas.errors import SchemaError
from testkit.replay_log import make_log

T0 = 1_700_000_000_000


@pytest.fixture(scope="module")
def log() -> list:
    """A realistic log as a topic reads it: partition after partition."""
    return sorted(make_log(4_000), key=lambda r: r[0])


@pytest.fixture(autouse=True)
def no_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "SERIAL_BELOW", 0)
    monkeypatch.setattr(importer, "SERIAL_BELOW", 0)


def serial(log: list, since: int | None = None, until: int | None = None) -> tuple:
    history = History("EUR", since, until)
    store, skipped = report_replay.fold(ListLog(log).items(until), history, None, since, until)
    return store, history, skipped


def figures(found: tuple) -> str:
    store, history, skipped = found
    data = collect(store, "EUR")
    return json.dumps([repr(data), history.to_json(), history.provenance(), skipped])


@pytest.mark.parametrize("window", [(None, None), (T0 + 600_000, T0 + 3_000_000)])
def test_the_parallel_report_is_the_serial_one(log: list, window: tuple) -> None:
    expected = figures(serial(log, *window))
    for jobs in (2, 3):
        found = report_replay.replay(ListLog(log), jobs, "EUR", *window)
        assert found is not None
        assert figures(found) == expected


def test_a_task_whose_events_span_partitions_is_replayed_serially(log: list) -> None:
    # One submitted task's later events moved to another partition (a log the processor
    # never writes): the segment holding them cannot see the task, so no merge.
    submitted = next(r for r in log if r[2].type == "WorkSubmitted")
    task, home = submitted[2].event.task_id, submitted[0]
    def place(record: tuple) -> tuple:
        _, pos, env = record
        if getattr(env.event, "task_id", None) == task and env.type != "TaskPosted":
            return (home + 1) % 8, pos, env
        return record

    moved = sorted(map(place, log), key=lambda r: r[0])
    assert sum(a[0] != b[0] for a, b in zip(sorted(log, key=lambda r: r[0]), moved,
                                             strict=True)) > 0  # fmt: skip
    assert report_replay.replay(ListLog(log), 2, "EUR", None, None) is not None
    assert report_replay.replay(ListLog(moved), 2, "EUR", None, None) is None


def test_histories_that_share_a_task_do_not_merge(log: list) -> None:
    posted = [r for r in log if r[2].type == "TaskPosted"][:1]
    twice = [History("EUR"), History("EUR")]
    for history in twice:
        history.add(posted[0])
    assert merged(twice) is None
    assert merged([twice[0], History("EUR")]) is not None


@pytest.fixture
def exported(log: list, tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    with path.open("w") as out:
        export(ListLog(log), out)
    return path


def test_pieces_cut_only_between_records(exported: Path) -> None:
    cuts = importer.pieces(exported, every=50)
    assert cuts is not None and len(cuts) > 10
    lines = exported.read_bytes().splitlines(keepends=True)
    assert cuts[0].start == 0 and cuts[-1].stop == sum(map(len, lines))
    for before, after in pairwise(cuts):
        assert before.stop == after.start
        last = json.loads(lines[after.first_line - 2])
        first = json.loads(lines[after.first_line - 1])
        assert (last["partition"], last["offset"]) != (first["partition"], first["offset"])
    # every event once, in file order
    items = [i for piece in cuts for i in importer._lines(piece)]
    assert items == list(FileLog(exported).items())


def test_a_file_with_a_line_the_scan_cannot_place_is_imported_serially(exported: Path) -> None:
    text = exported.read_text().splitlines()
    text.insert(7, json.dumps({"offset": 1, "partition": 0}))  # keys in another order
    exported.write_text("\n".join(text) + "\n")
    assert importer.pieces(exported, every=50) is None


def test_an_unreadable_line_is_reported_as_the_serial_pass_does(exported: Path) -> None:
    text = exported.read_text().splitlines()
    text[123] = text[123][:40]  # cut mid-line: not JSON
    exported.write_text("\n".join(text) + "\n")
    with pytest.raises(SchemaError) as serially:
        list(FileLog(exported).items())
    found = [importer.check_piece((piece, 8)) for piece in importer.pieces(exported, every=50)]
    errors = [f for f in found if isinstance(f, SchemaError)]
    assert [str(e) for e in errors] == [str(serially.value)]


def _shipped(partition: int, *ops: tuple[str, ...]) -> tuple:
    store = TrackedStore()
    store.apply([Entry("pw:t:offsets", partition, 1, tuple(ops))])
    return store.shipped()


def test_what_increments_touched_is_read_off_the_store() -> None:
    # Only the non-commuting ops are recorded; a field an increment left is still seen.
    counted = _shipped(0, ("HINCRBY", "h", "n", "2"))
    assert counted[1] == {} and merge([counted, _shipped(1, ("HSET", "h", "n", "9"))]) is None
    # incremented then deleted in one segment, incremented in the other: order matters
    gone = _shipped(0, ("HINCRBY", "h", "n", "2"), ("HDEL", "h", "n"))
    assert merge([gone, _shipped(1, ("HINCRBY", "h", "n", "1"))]) is None
    # an increment beside another segment's distinct field merges
    side = merge([counted, _shipped(1, ("HSET", "h", "m", "x"), ("HINCRBY", "h", "n", "3"))])
    assert side is not None and side.hgetall("h") == {"n": "5", "m": "x"}
    # a member added in one segment and removed in another never merges
    assert merge([_shipped(0, ("SADD", "s", "a")), _shipped(1, ("SREM", "s", "a"))]) is None
