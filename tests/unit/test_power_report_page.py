"""The citable report: per-currency requesters, the funnel plot's limits, unpaid time by
cause, promised against realised wages, weekly trends, windows, provenance, and the data
behind every chart embedded (JSON) and downloadable (CSV), from a scripted history."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consumers.engine.runner import fold_log
from consumers.power.figures import summarize
from consumers.power.report.charts import lorenz_rows, wage_bins
from consumers.power.report.currency import in_currency
from consumers.power.report.funnel import curve, funnel_rows
from consumers.power.report.history import DAY_MS, History, week_start
from consumers.power.scorecard import MIN_REVIEWS, rejection_outlier, wilson_interval
from consumers.power.snapshot import collect
from deploy.cli import report as cli
from schemas.jsonform import write_lines
from schemas.positions import offset_of
from tests.view_story import T0, Story

EUR, MINUTE, WEEK = 1_000_000, 60_000, 7 * DAY_MS


def batch(s: Story, requester: str, batch_id: str, n: int, reject: int, kind: str,
          reward: int = EUR // 10) -> list[str]:  # fmt: skip
    """`n` tasks done in a minute each by six workers, `reject` of them rejected."""
    tasks = s.post(requester, batch_id, count=n, reward=reward, fee=reward // 5, kind=kind,
                   estimated_seconds=30)  # fmt: skip
    subs = []
    for i, task in enumerate(tasks):
        claim = s.claim(task, f"w{i % 6}")
        subs.append(s.advance(MINUTE).submit(claim))
    s.advance(MINUTE)
    for sub in subs[reject:]:
        s.approve(sub)
    for sub in subs[:reject]:
        s.reject(sub)
    return subs


def three_weeks() -> Story:
    """Two EUR requesters over three weeks (one harsh, a release, an expiry, a bonus, work
    left pending), and a USD requester that rejects everything."""
    s = Story()
    batch(s, "fair", "f1", 30, 1, "image_labelling")
    harsh = batch(s, "harsh", "h1", 40, 16, "transcription")
    spare = s.post("harsh", "h2", count=2, kind="transcription", estimated_seconds=30)
    released, expired = s.claim(spare[0], "w1"), s.claim(spare[1], "w2")
    s.advance(5 * MINUTE).release(released)
    s.advance(10 * MINUTE).expire_claim(expired)
    s.dispute(harsh[0])
    s.overturn(harsh[0])
    s.currency = "USD"
    batch(s, "dollar", "d1", 25, 25, "survey")
    s.currency = "EUR"
    s.advance(2 * WEEK)  # the second week passes without work: a row of zeros
    batch(s, "fair", "f2", 10, 0, "image_labelling")
    s.bonus(spare[0], "w3", EUR // 2, EUR // 10)
    (last,) = s.post("fair", "f3", kind="image_labelling", estimated_seconds=30,
                     reward=EUR // 10)  # fmt: skip
    claim = s.claim(last, "w4")
    s.advance(MINUTE).submit(claim)  # never reviewed
    return s


@pytest.fixture(scope="module")
def story() -> Story:
    return three_weeks()


@pytest.fixture(scope="module")
def export(story: Story, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "events.jsonl"
    with path.open("w", encoding="utf-8") as out:
        write_lines(out, story.records)
    return path


def replay(records: list, currency: str = "EUR", since: int | None = None,
           until: int | None = None) -> tuple[dict, History, object]:  # fmt: skip
    history = History(currency, since, until)
    shown = (r for r in history.observe(records)
             if (since is None or r[2].occurred_at >= since)
             and (until is None or r[2].occurred_at <= until))  # fmt: skip
    data = in_currency(collect(fold_log(shown), currency))
    return summarize(data, 6 * EUR), history, data


# --- pure parts -------------------------------------------------------------------------


def test_the_wilson_interval_holds_the_rate_and_mirrors_its_complement() -> None:
    for k, n in ((0, 20), (1, 20), (7, 20), (20, 20), (3, 1_000)):
        low, high = wilson_interval(k, n)
        assert 0 <= low <= k / n <= high <= 1
        other_low, other_high = wilson_interval(n - k, n)
        assert math.isclose(low, 1 - other_high, abs_tol=1e-12)
        assert math.isclose(high, 1 - other_low, abs_tol=1e-12)
    assert wilson_interval(0, 20)[0] == 0 and wilson_interval(20, 20)[1] == 1
    # Wider with fewer reviews, at the same rate.
    assert wilson_interval(5, 20)[1] - wilson_interval(5, 20)[0] > (
        wilson_interval(50, 200)[1] - wilson_interval(50, 200)[0])


def test_the_funnel_limits_are_the_flags_rule(story: Story) -> None:
    report, _, data = replay(story.records)
    rows = funnel_rows(data.requesters)
    reviewed, rejected = report["totals"]["reviewed"], report["totals"]["rejected"]
    assert [r["requester"] for r in rows] == ["fair", "harsh"]  # by reviews; no dollar
    for row in rows:
        judged = rejection_outlier(row["reviewed"], row["rejected"], reviewed, rejected)
        assert row["limit"] == round(judged[1], 6) and row["flagged"] == judged[0]
        assert row["low"] <= row["rate"] <= row["high"]
    flagged = [{"requester": r["requester"], "threshold": r["limit"]} for r in rows if r["flagged"]]
    outliers = [{"requester": o["requester"], "threshold": o["threshold"]}
                for o in report["rejection_outliers"]]  # fmt: skip
    assert flagged == outliers and [o["requester"] for o in outliers] == ["harsh"]
    guide = curve(reviewed, rejected, 200)
    p = rejected / reviewed
    assert guide[0]["reviews"] == MIN_REVIEWS and guide[-1]["reviews"] == 200
    for point in guide:
        assert point["limit"] == round(p + 3 * math.sqrt(p * (1 - p) / point["reviews"]), 6)


def test_too_few_reviews_have_no_limit() -> None:
    s = Story()
    batch(s, "big", "b", 40, 2, "survey")
    batch(s, "small", "s", MIN_REVIEWS - 1, 10, "survey")
    data = collect(fold_log(s.records), "EUR")
    rows = {r["requester"]: r for r in funnel_rows(data.requesters)}
    assert rows["small"]["limit"] is None and not rows["small"]["flagged"]
    assert rows["big"]["limit"] is not None


def test_a_requester_without_money_in_the_currency_is_left_out(story: Story) -> None:
    everyone = collect(fold_log(story.records), "EUR")
    assert "dollar" in {r.id for r in everyone.requesters}  # the view keeps its reviews
    eur, _, data = replay(story.records)
    assert "dollar" not in {r.id for r in data.requesters}
    assert "dollar" not in eur["scorecards"] and "dollar" not in eur["rejection_rate"][
        "by_requester"]  # fmt: skip
    assert "dollar" not in {q["requester"] for q in eur["top_requesters"]}
    # Its 25 rejections are not in the EUR platform's rate.
    assert eur["totals"]["reviewed"] == 30 + 40 + 10
    usd, _, _ = replay(story.records, "USD")
    assert [q["requester"] for q in usd["top_requesters"]] == ["dollar"]


def test_weeks_start_on_monday_utc() -> None:
    tuesday = int(datetime(2023, 11, 14, 22, 13, tzinfo=UTC).timestamp() * 1000)
    monday = int(datetime(2023, 11, 13, tzinfo=UTC).timestamp() * 1000)
    assert week_start(tuesday) == monday == week_start(monday)
    assert week_start(monday - 1) == monday - WEEK
    assert week_start(monday + WEEK - 1) == monday


def test_the_history_agrees_with_the_report_and_splits_unpaid_time(story: Story) -> None:
    report, history, _ = replay(story.records)
    weeks, total = history.weekly(), history.total()
    assert [w["week_start_ms"] for w in weeks] == [week_start(T0) + i * WEEK for i in range(3)]
    assert weeks[1]["work_ms"] == 0 and weeks[1]["effective_hourly_wage"] is None
    t = report["totals"]
    causes = {c["cause"]: c["ms"] for c in history.unpaid_by_cause()}
    assert sum(w["work_ms"] for w in weeks) == total.work_ms == t["work_ms"] - 25 * MINUTE
    # The power view's times are across currencies: dollar's 25 rejected minutes are in it.
    unpaid = causes["rejected"] + causes["released"] + causes["expired"]
    assert unpaid == t["unpaid_ms"] - 25 * MINUTE
    assert causes["released"] == 5 * MINUTE and causes["expired"] == 15 * MINUTE
    assert causes["rejected"] == 16 * MINUTE  # 1 + 16 rejected, one overturned
    assert causes["pending"] == MINUTE
    assert sum(causes.values()) == total.work_ms  # every minute has one fate
    assert (total.paid, total.reviewed, total.rejected) == (
        t["paid"], t["reviewed"], t["rejected"])  # fmt: skip


def test_promised_against_realised_per_requester_and_kind(story: Story) -> None:
    report, history, _ = replay(story.records)
    by_requester = {r["requester"]: r for r in history.promised("requester")}
    by_kind = {r["kind"]: r for r in history.promised("kind")}
    assert set(by_kind) == {"image_labelling", "transcription"} and "dollar" not in by_requester
    for name in ("fair", "harsh"):
        card = report["scorecards"][name]
        assert by_requester[name]["promised_hourly_wage"] == card["promised_hourly_wage"]
    # 0.10 EUR for an estimated 30 s: 12 EUR/h promised; a minute's work pays 6 EUR/h at best.
    assert by_kind["image_labelling"]["promised_hourly_wage"] == 12 * EUR
    fair = by_requester["fair"]
    assert fair["realised_hourly_wage"] == round(fair["paid"] * 3_600_000 / fair["work_ms"])
    assert fair["realised_hourly_wage"] < 6 * EUR


def test_a_window_keeps_only_its_events(story: Story) -> None:
    since = week_start(T0) + 2 * WEEK
    report, history, _ = replay(story.records, since=since)
    assert [w["week_start_ms"] for w in history.weekly()] == [since]
    assert report["totals"]["work_ms"] == history.total().work_ms == 11 * MINUTE
    assert report["totals"]["reviewed"] == 10  # the third week's reviews only
    until = week_start(T0) + WEEK
    early, early_history, _ = replay(story.records, until=until)
    assert early_history.provenance()["last_event_ms"] <= until
    assert early["totals"]["reviewed"] == 70


def test_wage_bins_put_the_floor_on_an_edge_and_count_every_worker() -> None:
    wages = [0, 1, 2_999_999, 3_000_000, 5_999_999, 6_000_000, 50_000_000]
    bins = wage_bins(wages, 6 * EUR)
    assert sum(b["workers"] for b in bins) == len(wages)
    assert any(b["low"] == 6 * EUR for b in bins) and bins[-1]["high"] is None
    assert sum(b["workers"] for b in bins if b["below_floor"]) == 5
    assert lorenz_rows([0, 0, 10, 30])[-1] == {"workers": 4, "workers_share": 1.0,
                                               "pay_share": 1.0}  # fmt: skip


def test_time_arguments() -> None:
    assert cli.parse_time("1700000000000") == 1_700_000_000_000
    assert cli.parse_time("2023-11-13") == int(datetime(2023, 11, 13, tzinfo=UTC).timestamp()
                                               * 1000)  # fmt: skip
    assert cli.parse_time("2023-11-13T01:00+01:00") == cli.parse_time("2023-11-13")
    for bad in ("yesterday", "9" * 30, ""):
        with pytest.raises(ValueError):
            cli.parse_time(bad)


# --- the page, from an export, through the CLI --------------------------------------------


def blocks(page: str) -> dict[str, object]:
    found = re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', page)
    return {name: json.loads(text) for name, text in found}


def csvs(page: str) -> dict[str, list[dict[str, str]]]:
    links = re.findall(r'download="([^"]+)\.csv" href="data:text/csv;charset=utf-8;base64,'
                       r'([A-Za-z0-9+/=]*)"', page)  # fmt: skip
    return {name: list(csv.DictReader(io.StringIO(base64.b64decode(data).decode())))
            for name, data in links}  # fmt: skip


def as_csv(value: object) -> str:
    return "" if value is None else str(value)


def test_the_page_embeds_the_figures_it_draws(
    story: Story, export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page_file = tmp_path / "report.html"
    assert cli.main(["--events", str(export), "--floor", "6", "--html", str(page_file),
                     "--json"]) == 0  # fmt: skip
    printed = json.loads(capsys.readouterr().out)
    page = page_file.read_text(encoding="utf-8")
    data = blocks(page)
    report, history, power = replay(story.records)
    expected = {**report, **history.to_json()}

    tables = ("data-provenance", "data-report", "data-promised_vs_realised_by_kind")
    charts = [name for name in data if name not in tables]
    assert len(charts) == len(re.findall(r"<svg[ >]", page)) == 7
    assert "data:image/png" not in page and "dollar" not in page
    assert data["data-report"] == {k: printed[k] for k in expected} == expected
    assert data["data-rejections"]["rows"] == funnel_rows(power.requesters)
    assert data["data-work_by_fate"]["rows"] == history.unpaid_by_cause()
    assert data["data-weekly"]["rows"] == history.weekly()
    assert data["data-promised_vs_realised"]["rows"] == history.promised("requester")
    wages = [w.wage for w in power.workers if w.wage is not None]
    assert data["data-wages"]["rows"] == wage_bins(wages, 6 * EUR)

    downloads = csvs(page)
    for name in charts:
        rows = data[name]["rows"]
        table = downloads[name.removeprefix("data-")]
        assert len(table) == len(rows) > 0
        assert table == [{k: as_csv(v) for k, v in row.items()} for row in rows]
    by_kind = data["data-promised_vs_realised_by_kind"]["rows"]
    assert by_kind == history.promised("kind") and len(by_kind) == 2
    assert downloads["promised_vs_realised_by_kind"] == [
        {k: as_csv(v) for k, v in row.items()} for row in by_kind]  # fmt: skip

    provenance = data["data-provenance"]
    assert provenance == printed["provenance"]
    ends: dict[str, int] = {}
    for partition, pos, _ in story.records:  # the story's records hold positions
        ends[str(partition)] = max(ends.get(str(partition), 0), offset_of(pos) + 1)
    assert provenance["end_offsets"] == ends and len(ends) > 1
    assert provenance["events"] == len(story.records)
    assert provenance["last_event_ms"] == story.now and provenance["clock_speed"] is None
    assert provenance["software"].startswith("piecework ")
    assert "not recorded in an export" in page and f"{len(story.records):,}" in page


def test_the_cli_windows_and_refuses_bad_windows(export: Path, capsys) -> None:
    since = week_start(T0) + 2 * WEEK
    assert cli.main(["--events", str(export), "--since", str(since), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["totals"]["reviewed"] == 10 and printed["provenance"]["since_ms"] == since
    assert [w["week_start_ms"] for w in printed["weekly"]] == [since]
    assert cli.main(["--events", str(export), "--since", "2024-01-02",
                     "--until", "2024-01-01"]) == cli.EXIT_INPUT  # fmt: skip
    assert cli.main(["--events", str(export), "--until", "soon"]) == cli.EXIT_INPUT
    assert cli.main(["--events", str(export), "--top", "0"]) == cli.EXIT_INPUT
