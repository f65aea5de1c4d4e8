"""`piecework report`: the HTML page, the terminal table and the JSON, from folded events."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from consumers.engine.runner import fold_log
from consumers.power.figures import power_report, summarize
from consumers.power.report.fmt import duration, money, pct
from consumers.power.report.history import History
from consumers.power.report.html import render_html
from consumers.power.snapshot import collect
from deploy.cli import report as cli
from schemas.jsonform import write_lines
from tests.view_story import Story

HOUR, EUR = 3_600_000, 1_000_000
CHARTS = 7


def work(s: Story, task: str, worker: str) -> str:
    claim = s.claim(task, worker)
    return s.advance(HOUR // 60).submit(claim)


def marketplace() -> Story:
    """The article's transcription, a fair and a harsh requester, a rejection overturned."""
    s = Story()
    (audio,) = s.post("agency", "audio", reward=13 * EUR, fee=2_600_000, estimated_seconds=7_200)
    claim = s.claim(audio, "amina")
    s.approve(s.advance(15 * HOUR).submit(claim))
    for requester, rejections in (("fair", 2), ("harsh", 12)):
        tasks = s.post(requester, "b", count=24, reward=EUR // 10, fee=EUR // 50)
        subs = [work(s, t, f"w{i % 6}") for i, t in enumerate(tasks)]
        s.advance(HOUR)
        for sub in subs[rejections:]:
            s.approve(sub)
        for sub in subs[:rejections]:
            s.reject(sub)
    s.dispute(subs[0])
    s.overturn(subs[0])
    return s


def page_of(records: list, currency: str = "EUR") -> tuple[str, dict]:
    history = History(currency)
    data = collect(fold_log(history.observe(records)), currency)
    report = summarize(data, 6 * EUR)
    provenance = {**history.provenance(), "source": "replay of a test story",
                  "software": "piecework test", "clock_speed": None, "currency": currency,
                  "floor": 6 * EUR, "generated": "2024-01-01", "command": "-"}  # fmt: skip
    return render_html(report, data, history.to_json(), provenance), report


def test_the_html_report_holds_its_svg_plots_and_the_key_figures() -> None:
    page, report = page_of(marketplace().records)
    assert len(re.findall(r"<svg[ >]", page)) == CHARTS and "data:image/png" not in page
    assert [o["requester"] for o in report["rejection_outliers"]] == ["harsh"]
    for text in (
        "Effective hourly wage against the floor", "Rejection outliers: a funnel plot",
        "Time to pay", "Lorenz curve", "Red: above its limit (harsh)", "Hara et al.",
        "Unpaid time by cause", "Promised wage against realised", "Trends: week by week",
        "100.0 % of workers earn less than the floor of 6.00 EUR/h once unpaid time is counted",
    ):  # fmt: skip
        assert text in page
    assert per_hour_of(report["effective_hourly_wage"]["p90"]) in page


def per_hour_of(micro: int) -> str:
    return money(micro, "EUR") + "/h"


def test_an_empty_report_still_renders() -> None:
    page, _ = page_of([])
    assert len(re.findall(r"<svg[ >]", page)) == CHARTS and "n/a" in page


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    with path.open("w", encoding="utf-8") as out:
        write_lines(out, marketplace().records)
    return path


def test_the_cli_folds_an_export_with_the_same_code(
    export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--events", str(export), "--json", "--floor", "7.25"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = power_report(fold_log(marketplace().records), "EUR", 7_250_000)
    assert {k: printed[k] for k in expected} == expected
    assert printed["effective_hourly_wage"]["median"] < 7_250_000


def test_the_cli_prints_a_table_and_writes_html(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "report.html"
    assert cli.main(["--events", str(export), "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert "Platform power report (EUR)" in out and "harsh" in out
    assert len(re.findall(r"<svg[ >]", page.read_text(encoding="utf-8"))) == CHARTS


def test_the_cli_refuses_bad_input(export: Path, tmp_path: Path) -> None:
    assert cli.main(["--events", str(tmp_path / "missing.jsonl")]) == cli.EXIT_INPUT
    assert cli.main(["--events", str(export), "--floor", "1.0000001"]) == cli.EXIT_INPUT
    assert cli.main(["--events", str(export), "--currency", "XYZ"]) == cli.EXIT_INPUT


def test_money_is_rounded_half_up_in_integers_and_durations_read_naturally() -> None:
    assert money(866_667, "EUR") == "0.87 EUR"
    assert money(5_000, "EUR") == "0.01 EUR" and money(4_999, "EUR") == "0.00 EUR"
    assert money(1_234_567_890, "USD", 0) == "1,235 USD"
    assert [duration(s) for s in (61, 5_400, 259_200)] == ["61 s", "90 min", "3.0 days"]
    assert pct(None) == "n/a" and pct(0.1234) == "12.3 %"
