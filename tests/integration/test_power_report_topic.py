"""`piecework report` replaying the real events topic gives the figures and provenance of the
same log replayed from its export (the page a researcher cites names the topic's cut)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from deploy.cli import main
from deploy.topics import create_topics
from schemas.jsonform import write_lines
from tests.audit_topics import drop_topics
from tests.live_write_side import settings_for
from tests.unit.test_power_report_page import blocks, three_weeks
from tests.view_story import PARTITIONS


@pytest.fixture(scope="module")
def deployment(kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory):
    """A deployment whose events topic holds the scripted history, and its export."""
    settings = settings_for(kafka_bootstrap, redis_url, f"t.report.{uuid.uuid4().hex[:8]}",
                            partitions=PARTITIONS)  # fmt: skip
    create_topics(settings.kafka, settings.topics.creation_configs(), settings.partitions)
    path = tmp_path_factory.mktemp("report") / "story.jsonl"
    with path.open("w", encoding="utf-8") as out:
        write_lines(out, three_weeks().records)
    where = ["--kafka", settings.kafka, "--prefix", settings.topics.prefix]
    try:
        # --force: the story places events by its own hash, not Kafka's key partitioner.
        assert main(["import", *where, str(path), "--force"]) == 0
        exported = path.with_name("exported.jsonl")
        assert main(["export", *where, "--out", str(exported)]) == 0
        yield where, exported
    finally:
        drop_topics(kafka_bootstrap, settings.topics.prefix)


def report(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    capsys.readouterr()
    assert main(["report", "--floor", "6", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_topic_and_its_export_give_one_report(deployment, tmp_path: Path, capsys) -> None:
    where, exported = deployment
    page = tmp_path / "report.html"
    live = report(capsys, *where, "--html", str(page))
    from_file = report(capsys, "--events", str(exported))
    differ = {"source", "generated", "clock_speed", "command"}
    assert {k: v for k, v in live.items() if k != "provenance"} == {
        k: v for k, v in from_file.items() if k != "provenance"}  # fmt: skip
    assert {k: v for k, v in live["provenance"].items() if k not in differ} == {
        k: v for k, v in from_file["provenance"].items() if k not in differ}  # fmt: skip
    assert live["provenance"]["source"].startswith("replay of topic ")
    assert live["provenance"]["clock_speed"] == 1.0
    used = {str(partition) for partition, _, _ in three_weeks().records}
    assert set(live["provenance"]["end_offsets"]) == used
    text = page.read_text(encoding="utf-8")
    assert blocks(text)["data-provenance"]["end_offsets"] == live["provenance"]["end_offsets"]
    assert len(re.findall(r"<svg[ >]", text)) == 7 and "dollar" not in text
    assert "real time" in text


def test_a_pseudonymised_export_reports_the_same_figures(deployment, tmp_path: Path,
                                                         capsys) -> None:  # fmt: skip
    where, exported = deployment
    key, pseudo = tmp_path / "key", tmp_path / "pseudo.jsonl"
    key.write_bytes(b"0123456789abcdef-a-regulator-key")
    assert main(["export", *where, "--pseudonymise", "--key-file", str(key),
                 "--out", str(pseudo)]) == 0  # fmt: skip
    plain = report(capsys, "--events", str(exported))
    hidden = report(capsys, "--events", str(pseudo))
    assert "harsh" not in pseudo.read_text() and "harsh" in json.dumps(plain)
    for name in ("totals", "effective_hourly_wage", "unpaid_by_cause", "weekly", "gini", "hhi",
                 "time_to_pay_seconds", "wage_floor_compliance"):  # fmt: skip
        assert hidden[name] == plain[name], name
    kinds = plain["promised_vs_realised"]["by_kind"]
    assert hidden["promised_vs_realised"]["by_kind"] == kinds
    strip = [{k: v for k, v in r.items() if k != "requester"}
             for r in plain["promised_vs_realised"]["by_requester"]]  # fmt: skip
    hidden_rows = [{k: v for k, v in r.items() if k != "requester"}
                   for r in hidden["promised_vs_realised"]["by_requester"]]  # fmt: skip
    assert sorted(map(json.dumps, hidden_rows)) == sorted(map(json.dumps, strip))
    assert [o["rate"] for o in hidden["rejection_outliers"]] == [
        o["rate"] for o in plain["rejection_outliers"]]  # fmt: skip
    assert hidden["provenance"]["end_offsets"] == plain["provenance"]["end_offsets"]
