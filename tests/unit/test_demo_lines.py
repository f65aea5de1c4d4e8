"""The demo's one-line summaries of the simulation and of the audit."""

from __future__ import annotations

from deploy.cli.demo import audit_line, simulation_line


def test_the_simulation_in_one_line() -> None:
    summary = {"tasks_posted": 5327, "claims": 7637, "approvals": 4749, "rejections": 743,
               "payouts": 410, "calls": 22536, "calls_per_s": 250.4, "server_errors": 0,
               "latency_ms": {"p50": 58.6, "p95": 228.4, "p99": 360.5}}  # fmt: skip
    assert simulation_line(summary) == (
        "simulated 5,327 tasks posted, 7,637 claims, 4,749 approvals, 743 rejections, 410 "
        "payouts: 22,536 API calls (250.4/s, p99 360.5 ms), 0 server errors")


def test_an_audit_that_passed() -> None:
    report = {"ok": True, "events": 33543, "views_match": True,
              "checks": {"ids": 0, "money": 0, "views": 0, "dead_letters": "skipped"}}  # fmt: skip
    assert audit_line(report) == ("[green]OK[/]: 33,543 events replayed, 3 of 4 checks passed, "
                                  "views match the log")  # fmt: skip


def test_an_audit_that_failed_names_its_first_violations() -> None:
    report = {"ok": False, "events": 10, "checks": {"money": 2},
              "violations": ["money: EUR escrow -5", "money: USD fees 3", "third"]}  # fmt: skip
    assert audit_line(report) == ("[red]3 violation(s)[/]: money: EUR escrow -5; "
                                  "money: USD fees 3")  # fmt: skip
