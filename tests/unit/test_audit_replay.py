"""The audit's single pass, its sources and its report, with no broker."""

from __future__ import annotations

import io
import json
from pathlib import Path

import msgpack
import pytest

from audit import deadletters
from audit.checks import ids
from audit.logfile import event_key, export, raw_line
from audit.replay import Replay
from audit.run import Options, audit
from audit.source import FileLog, ListLog, Undecodable, parse_line
from consumers.engine.runner import VIEWS, digests, fold_log
from consumers.stores.memory_store import MemoryStore
from runtime.deadletter import DeadLetter
from schemas.errors import SchemaError
from tests.unit.audit_kit import T0, good_log


def last_offsets(log) -> dict[int, int]:
    return {p: o for p, o, _ in log}


def test_live_views_caught_up_share_the_replayed_store() -> None:
    log = good_log()
    replay = Replay([ids.UniqueIds()], {view: last_offsets(log) for view in VIEWS})
    replay.feed(log)
    assert replay.events == len(log) and [g.store for g in replay.groups] == [None]
    assert replay.digests_at_live() == replay.digests() == digests(fold_log(log))


def test_each_view_is_replayed_up_to_its_own_live_offsets() -> None:
    log = good_log()
    behind = {**last_offsets(log), 2: 8}  # the task partition, mid-way through submissions
    replay = Replay([], {"ledger": last_offsets(log), "queue": behind, "tasks": behind})
    replay.feed(log)
    prefix = [r for r in log if r[1] <= behind[r[0]]]
    expected = digests(fold_log(prefix), ["queue", "tasks"])
    assert len(replay.groups) == 2
    assert replay.digests_at_live() == {"ledger": digests(fold_log(log))["ledger"], **expected}
    assert expected != digests(fold_log(log), ["queue", "tasks"])


def test_live_views_that_never_ran_compare_as_empty() -> None:
    replay = Replay([], {view: {} for view in VIEWS})
    replay.feed(good_log())
    assert replay.digests_at_live() == digests(MemoryStore())


def test_until_stops_each_partition_at_its_first_later_event() -> None:
    log = good_log()
    report = audit(ListLog(log), Options(until=T0 + 60_000, no_live_reason="unit"))
    assert report.ok and report.events == 9  # deposit, batch, task, 3 x (claim, submit)
    assert report.views_match is None and "--until" in report.views_note
    # the first submission is later: the task's partition stops there, after one claim
    assert audit(ListLog(log), Options(until=T0 + 59_999)).events == 4


def test_undecodable_records_are_counted_and_need_a_dead_letter_from_a_topic() -> None:
    log: list = [*good_log(), Undecodable(0, 9, "undecodable", "garbage", None, b"\x01")]
    assert audit(ListLog(log), Options(no_live_reason="unit")).ok  # an export kept it raw
    report = audit(ListLog(log), Options(no_live_reason="unit"), dead_letters=lambda: [])
    assert [v["check"] for v in report.violations] == ["dead_letters"]
    letter = DeadLetter("undecodable", "x", "memory", 0, 9, None, b"\x01", "views-0", T0)
    listed = deadletters.decode(0, 0, letter.encode())
    report = audit(ListLog(log), Options(no_live_reason="unit"), dead_letters=lambda: [listed])
    assert report.ok and report.dead_letters == {"undecodable": 1}


def test_the_json_report_has_the_documented_keys() -> None:
    report = audit(ListLog(good_log()), Options(no_live_reason="unit")).to_json()
    assert {"ok", "events", "views_match", "violations", "events_per_second",
            "pending_credits"} <= set(report)  # fmt: skip
    assert report["ok"] is True and report["events"] == 19 and report["pending_credits"] == 0
    json.dumps(report)


def test_an_export_file_audits_like_the_log_it_came_from(tmp_path: Path) -> None:
    log: list = [*good_log(), Undecodable(1, 40, "undecodable", "bad", b"k", b"\xc1")]
    path = tmp_path / "events.jsonl"
    with path.open("w") as out:
        assert export(ListLog(log), out) == len(log)
    items = list(FileLog(path).items())
    assert items == log
    from_file = audit(FileLog(path), Options(no_live_reason="file"))
    assert from_file.ok and from_file.digests == audit(ListLog(log)).digests
    assert from_file.undecodable == 1


def test_a_line_that_cannot_be_placed_in_the_log_stops_the_read() -> None:
    with pytest.raises(SchemaError, match="line 3"):
        parse_line(b"not json", 3)
    item = parse_line(json.dumps({"partition": 1, "offset": 2, "t": "Nope"}), 4)
    assert isinstance(item, Undecodable) and item.code == "bad_export" and "line 4" in item.error


def test_a_raw_line_round_trips_its_bytes() -> None:
    u = Undecodable(3, 4, "undecodable", "not msgpack", None, b"\x00\xff")
    assert parse_line(raw_line(u), 1) == u


def test_the_record_key_is_the_partition_key_of_the_command() -> None:
    keys = {env.aggregate_id: event_key(env) for _, _, env in good_log()}
    assert keys == {"requester:acme": b"acme", "task:acme:b1:0": b"acme",
                    "worker:wanda": b"wanda", "worker:wendy": b"wendy"}  # fmt: skip


def test_a_dead_letter_that_does_not_decode_is_listed_raw() -> None:
    garbage = deadletters.decode(0, 5, b"\xc1garbage")
    wrong_shape = deadletters.decode(0, 6, msgpack.packb({"code": "x"}))
    for item in (garbage, wrong_shape):
        assert item.letter is None and item.code == "undecodable_dead_letter"
        assert item.to_json()["raw"] == item.raw.hex() and item.error
    assert deadletters.codes([garbage, wrong_shape]) == {"undecodable_dead_letter": 2}


def test_a_decoded_dead_letter_shows_its_origin_and_the_head_of_its_value() -> None:
    value = bytes(range(64))
    letter = DeadLetter("unknown_type", "no such type", "t.events", 2, 9, b"k", value, "views-0", 1)
    shown = deadletters.decode(0, 0, letter.encode()).to_json()
    assert shown["origin"] == {"topic": "t.events", "partition": 2, "offset": 9}
    assert shown["value_head"] == value[:32].hex() and shown["value_bytes"] == 64
    assert io.StringIO(json.dumps(shown)).getvalue()
