"""The parallel replay (audit/parallel.py) gives the serial audit's report, or steps aside."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from audit import parallel
from audit.live import LiveViews
from audit.logfile import export
from audit.replay import Replay
from audit.run import Options, audit
from audit.source import FileLog, ListLog
from audit.tracked_store import TrackedStore, merge
from consumers.stores.ops import Entry
from testkit.replay_log import make_log

BASE = {"grace_ms": 60_000, "strict": False, "until": None}


@pytest.fixture(scope="module")
def log() -> list:
    """A realistic log as a topic reads it: partition after partition."""
    return sorted(make_log(4_000), key=lambda r: r[0])


@pytest.fixture(autouse=True)
def no_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "SERIAL_BELOW", 0)


def same(a, b) -> None:
    left, right = a.to_json(), b.to_json()
    for timing in ("seconds", "events_per_second"):
        left.pop(timing), right.pop(timing)
    assert left == right


def test_a_scripted_log_audits_the_same_in_parallel(log: list) -> None:
    assert parallel.replay(ListLog(log), 2, BASE, None) is not None  # it did run in parallel
    serial = audit(ListLog(log), Options(no_live_reason="unit"))
    assert serial.ok and serial.events == len(log)
    same(serial, audit(ListLog(log), Options(no_live_reason="unit", jobs=2)))
    same(serial, audit(ListLog(log), Options(no_live_reason="unit", jobs=3)))


def test_until_and_strict_give_the_same_verdicts(log: list) -> None:
    middle = sorted(r[2].occurred_at for r in log)[len(log) // 2]
    options = Options(until=middle, strict=True, no_live_reason="unit")
    serial = audit(ListLog(log), options)
    assert serial.events < len(log)
    same(serial, audit(ListLog(log), dataclasses.replace(options, jobs=2)))


def test_violations_inside_partitions_merge_in_log_order(log: list) -> None:
    # Every credit dropped: lost credits (and a money mismatch) on every worker partition.
    broken = [r for r in log if r[2].type != "WorkerCredited"]
    assert parallel.replay(ListLog(broken), 2, BASE, None) is not None
    serial = audit(ListLog(broken), Options(no_live_reason="unit", strict=True))
    assert not serial.ok and len(serial.violations) > 50  # past the listed cap
    same(serial, audit(ListLog(broken), Options(no_live_reason="unit", strict=True, jobs=2)))


def test_an_aggregate_on_two_partitions_falls_back_to_the_serial_replay(log: list) -> None:
    moved = [r for r in log if r[0] == 0][-1]
    other = max(r[0] for r in log)
    tampered = [r for r in log if r is not moved]
    at = max(i for i, r in enumerate(tampered) if r[0] == other)
    tampered.insert(at + 1, (other, tampered[at][1] + 1, moved[2]))  # its aggregate is on 0
    assert parallel.replay(ListLog(tampered), 2, BASE, None) is None
    serial = audit(ListLog(tampered), Options(no_live_reason="unit"))
    assert not serial.ok
    same(serial, audit(ListLog(tampered), Options(no_live_reason="unit", jobs=2)))


def test_an_export_audits_the_same_and_interleaved_files_go_serial(
    log: list, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    with path.open("w") as out:
        export(ListLog(log), out)
    runs = parallel.file_runs(path)
    assert runs is not None and [r[0] for r in runs] == sorted({r[0] for r in log})
    serial = audit(FileLog(path), Options(no_live_reason="file"))
    same(serial, audit(FileLog(path), Options(no_live_reason="file", jobs=2)))
    lines = path.read_text().splitlines(keepends=True)
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("".join(lines[1:] + lines[:1]))  # partition 0 at both ends
    assert parallel.file_runs(mixed) is None
    same(audit(FileLog(mixed), Options(no_live_reason="file")),
         audit(FileLog(mixed), Options(no_live_reason="file", jobs=2)))  # fmt: skip


def test_a_bad_line_fails_the_same_way_in_a_worker(log: list, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with path.open("w") as out:
        export(ListLog(log), out)
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(len(lines) - 3, f'{{"partition": {log[-1][0]}, "offset": 1, \n')
    path.write_text("".join(lines))
    with pytest.raises(Exception) as serial:
        audit(FileLog(path), Options(no_live_reason="file"))
    with pytest.raises(Exception) as parallel_error:
        audit(FileLog(path), Options(no_live_reason="file", jobs=2))
    assert str(serial.value) == str(parallel_error.value)
    assert f"line {len(lines) - 3}" in str(serial.value)


def _store(partition: int, *ops: tuple[str, ...]) -> tuple:
    store = TrackedStore()
    store.apply([Entry("pw:t:offsets", partition, 1, tuple(ops))])
    return store.shipped()


def test_stores_merge_only_when_the_order_of_segments_cannot_matter() -> None:
    incr = merge([_store(0, ("HINCRBY", "h", "n", "2")), _store(1, ("HINCRBY", "h", "n", "3"))])
    assert incr is not None and incr.hgetall("h") == {"n": "5"}
    assert incr.offsets("pw:t:offsets") == {0: 1, 1: 1}
    both = _store(1, ("SADD", "s", "x"), ("SADD", "s", "y"))
    added = merge([_store(0, ("SADD", "s", "x")), both])
    assert added is not None and added.smembers("s") == {"x", "y"}
    fields = merge([_store(0, ("HSET", "h", "a", "1")), _store(1, ("HSET", "h", "b", "2"))])
    assert fields is not None and fields.hgetall("h") == {"a": "1", "b": "2"}
    # the same field set twice, a member added then removed, a set increment: order matters
    assert merge([_store(0, ("HSET", "h", "a", "1")), _store(1, ("HSET", "h", "a", "2"))]) is None
    assert merge([_store(0, ("SADD", "s", "x")), _store(1, ("SREM", "s", "x"))]) is None
    incremented = _store(1, ("HINCRBY", "h", "n", "1"))
    assert merge([_store(0, ("HSET", "h", "n", "7")), incremented]) is None
    assert merge([_store(0, ("HSET", "k", "a", "1")), _store(1, ("SADD", "k", "a"))]) is None
    # ZSYNC read a hash another segment wrote
    meta = _store(0, ("HSET", "m", "zset", "z", "score", "5", "free", "1"), ("ZSYNC", "m", "t"))
    assert merge([meta, _store(1, ("HINCRBY", "m", "free", "-1"))]) is None


def test_live_views_behind_the_log_end_compare_at_their_own_positions(log: list) -> None:
    last = {p: pos for p, pos, _ in log}
    some = sorted(last)[1]
    behind = {**last, some: sorted(pos for p, pos, _ in log if p == some)[len(log) // 20]}
    offsets = {"ledger": last, "queue": behind, "tasks": behind, "power": {}}
    replayed = Replay([], offsets)
    replayed.feed(log)
    live = LiveViews(offsets, {**replayed.digests_at_live(), "tasks": "tampered"})
    assert parallel.replay(ListLog(log), 2, BASE, offsets) is not None
    serial = audit(ListLog(log), Options(), live)
    assert serial.views_match is False and "behind" in serial.views_note
    assert [c.violations for c in serial.checks if c.name == "views"] == [
        [f"view tasks: replay digest {replayed.digests_at_live()['tasks'][:12]} != live tampered"]
    ]
    same(serial, audit(ListLog(log), Options(jobs=2), live))


def test_the_cli_gives_the_same_json_with_jobs(log: list, tmp_path: Path, capsys) -> None:
    from deploy.cli import main

    path = tmp_path / "events.jsonl"
    with path.open("w") as out:
        export(ListLog(log), out)
    lines = path.read_text().splitlines(keepends=True)
    lines[5] = lines[5].replace('"seq":', '"seq":1', 1)  # an edited sequence number
    first = next(i for i, line in enumerate(lines) if i > 9 and '"index":0' in line)
    lines[first] = lines[first].rstrip()[:-1] + ',"chain":{"n":0,"head":"00"}}\n'  # verify: bad
    path.write_text("".join(lines))
    found = []
    for jobs in ("1", "2"):
        code = main(["audit", "--events", str(path), "--json", "--jobs", jobs])
        report = json.loads(capsys.readouterr().out)
        report.pop("seconds"), report.pop("events_per_second")
        found.append((code, report))
    assert found[0] == found[1] and found[0][0] == 1
    assert found[0][1]["checks"]["chain"] == 1  # verify_file ran in its own process too
    for bad in ("0", "x", "257"):
        with pytest.raises(SystemExit) as refused:
            main(["audit", "--events", str(path), "--jobs", bad])
        assert refused.value.code == 2 and "--jobs" in capsys.readouterr().err


def test_a_line_the_pre_scan_cannot_place_falls_back(log: list, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with path.open("w") as out:
        export(ListLog(log), out)
    lines = path.read_text().splitlines(keepends=True)
    first = lines[0].split(",")[0]
    end = max(i for i, line in enumerate(lines) if line.startswith(first + ","))
    obj = json.loads(lines[end])
    moved = json.dumps({"offset": obj.pop("offset"), **obj}) + "\n"  # partition not first
    lines = [*lines[:end], lines[end + 1], moved, *lines[end + 2 :]]  # into the next run
    path.write_text("".join(lines))
    assert parallel.file_runs(path) is not None
    assert parallel.replay(FileLog(path), 2, BASE, None) is None
    same(audit(FileLog(path), Options(no_live_reason="file")),
         audit(FileLog(path), Options(no_live_reason="file", jobs=2)))  # fmt: skip
