"""The informed split of a simulation: who is informed (reproducible, nested by share),
what each requester and kind of worker counted, and the before/after comparison."""

from __future__ import annotations

import pytest

from deploy.cli import build_parser
from deploy.simulation.compare import comparison, split_lines
from deploy.simulation.plan import make_plan
from deploy.simulation.split import eur_equivalent
from deploy.simulation.summary import Summary


def _plan(share: float, prefix: str = "sim", **kw):  # type: ignore[no-untyped-def]
    return make_plan(7, 600 * 30, 6, 40, wall_s=30, prefix=prefix, informed_share=share, **kw)


def test_the_informed_workers_are_a_seeded_share_and_the_market_does_not_change():
    none, half, all_ = _plan(0.0), _plan(0.5), _plan(1.0)

    assert (none.informed, half.informed, all_.informed) == (0, 20, 40)
    assert half.workers == _plan(0.5).workers  # reproducible
    strip = [w.__class__(**{**{s: getattr(w, s) for s in w.__slots__}, "informed": False})
             for w in half.workers]
    assert tuple(strip) == none.workers and half.batches == none.batches
    informed = {w.worker_id for w in half.workers if w.informed}
    assert informed < {w.worker_id for w in _plan(0.75).workers if w.informed}


def test_the_same_seed_draws_the_same_decisions_whatever_the_run_id():
    a, b = _plan(0.5, prefix="run-a"), _plan(0.5, prefix="run-b")
    assert a.rng_for("run-a-w003").random() == b.rng_for("run-b-w003").random()
    assert a.rng_for("run-a-w003").random() != a.rng_for("run-a-w004").random()


def test_a_run_qualification_isolates_its_tasks_and_workers():
    plan = _plan(0.5, run_qualification="run-x")
    assert all("run-x" in w.qualifications for w in plan.workers)
    assert all("run-x" in t.spec["qualifications"] for b in plan.batches for t in b.tasks)


def test_money_adds_up_at_the_wage_floors_ratio():
    assert eur_equivalent(7_250_000, "USD") == 6_000_000
    assert eur_equivalent(1_000_000, "GBP") == 1_000_000


def _summary(share: float, prefix: str, done: dict[str, int], wage_ms: int) -> dict:
    plan = _plan(share, prefix=prefix)
    summary = Summary(7, 30, 600, 6, 40)
    summary.split.adopt(plan)
    for requester in plan.requesters:
        for _ in range(done.get(requester.requester_id.removeprefix(prefix + "-"), 0)):
            summary.split.count(requester.requester_id, False, "submissions")
    summary.split.count(f"{prefix}-r01", True, "claims")
    summary.split.count(f"{prefix}-r01", False, "rejections")
    summary.split.count("another-run-r01", True, "claims")  # a foreign task: class only
    summary.split.of(False).paid, summary.split.of(False).work_ms = 6_000_000, wage_ms
    return summary.to_json()


def test_each_requester_and_kind_of_worker_is_counted():
    report = _summary(0.5, "p", {"r01": 3}, 3_600_000)["informed"]

    assert report["share"] == 0.5 and report["workers"] == 20
    r01 = report["by_requester"]["r01"]
    assert (r01["profile"], r01["claims"], r01["informed_claims"], r01["submissions"],
            r01["rejections"]) == ("exploitative", 1, 1, 3, 1)
    assert report["by_worker_class"]["informed"]["claims"] == 2
    assert report["by_worker_class"]["uninformed"]["effective_hourly_wage"] == 6_000_000
    assert report["by_worker_class"]["informed"]["effective_hourly_wage"] is None


def test_the_comparison_matches_requesters_across_runs_and_says_the_change():
    before = _summary(0.0, "b", {"r01": 200}, 7_200_000)
    after = _summary(0.5, "a", {"r01": 150}, 3_600_000)

    rows = {r[0]: r[1:] for r in comparison(before, after)}

    assert rows["r01 exploitative: tasks done"] == ("200", "150", "-25%")
    assert rows["all workers: wage"] == ("3.00 EUR-eq/h", "6.00 EUR-eq/h", "+100%")
    assert len([k for k in rows if k.endswith("tasks done")]) == 6


def test_one_run_split_in_a_few_lines():
    lines = split_lines(_summary(0.5, "p", {"r01": 3}, 3_600_000))
    assert lines[0].startswith("informed workers (20): 2 claims")
    assert any(line.startswith("exploitative requesters (2): 3 tasks done") for line in lines)
    assert lines[-1] == "rejection outliers as informed workers last saw them: none"


def test_the_split_names_requesters_flagged_at_the_end_and_for_a_while():
    report = _summary(0.5, "p", {}, 3_600_000)
    tallies = report["informed"]["by_requester"]
    tallies["r01"].update(flag_seen_at=1.0, flagged_last=True)
    tallies["r03"].update(flag_seen_at=2.0, flagged_last=False)  # an early flag that cleared
    tallies["r04"].update(flagged_last=False)

    assert split_lines(report)[-1] == (
        "rejection outliers as informed workers last saw them: r01 (exploitative); "
        "flagged for a while: r03 (fair)")


@pytest.mark.parametrize("share", ["1.5", "-0.1", "nan", "half"])
def test_an_informed_share_outside_0_to_1_is_refused(share, capsys):
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args(["simulate", "--informed-share", share])
    assert refused.value.code == 2 and "--informed-share" in capsys.readouterr().err


def test_the_comparison_options_parse():
    args = build_parser().parse_args(["simulate", "--compare-informed", "--informed-share",
                                      "0.25"])
    assert args.compare_informed and args.informed_share == 0.25
    assert build_parser().parse_args(["simulate"]).informed_share == 0.5
