"""What an audit found: a JSON document for machines and rich tables for people."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from audit.checks.credits import Owed
from schemas.money import format_amount


@dataclass
class CheckResult:
    name: str
    invariant: int | None
    violations: list[str]
    skipped: str = ""  # why the check did not run, if it did not


@dataclass
class AuditReport:
    source: str
    events: int
    seconds: float
    checks: list[CheckResult]
    undecodable: int = 0
    partitions: int = 0
    aggregates: dict[str, int] = field(default_factory=dict)
    pending: list[Owed] = field(default_factory=list)
    money: dict[str, dict[str, int]] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    live_digests: dict[str, str] = field(default_factory=dict)
    views_match: bool | None = None
    views_note: str = ""
    dead_letters: dict[str, int] | None = None
    until: int | None = None

    @property
    def violations(self) -> list[dict[str, Any]]:
        return [
            {"check": c.name, "invariant": c.invariant, "message": message}
            for c in self.checks
            for message in c.violations
        ]

    @property
    def ok(self) -> bool:
        return not any(c.violations for c in self.checks)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "source": self.source,
            "events": self.events,
            "undecodable": self.undecodable,
            "partitions": self.partitions,
            "aggregates": self.aggregates,
            "until": self.until,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second, 1),
            "checks": {c.name: c.skipped or len(c.violations) for c in self.checks},
            "violations": self.violations,
            "pending_credits": len(self.pending),
            "pending": [o._asdict() for o in self.pending],
            "money": self.money,
            "views_match": self.views_match,
            "views_note": self.views_note,
            "digests": self.digests,
            "live_digests": self.live_digests,
            "dead_letters": self.dead_letters,
        }


def _summary(report: AuditReport) -> Table:
    table = Table(title=f"audit of {report.source}", title_justify="left", show_header=False)
    table.add_column("figure")
    table.add_column("value", overflow="fold")
    verdict = "[green]OK[/]" if report.ok else f"[red]{len(report.violations)} violation(s)[/]"
    aggregates = ", ".join(f"{n} {kind}" for kind, n in report.aggregates.items()) or "none"
    rows = [
        ("verdict", verdict),
        ("events", f"{report.events:,} on {report.partitions} partition(s)"),
        ("aggregates", aggregates),
        ("replay", f"{report.seconds:.2f} s, {report.events_per_second:,.0f} events/s"),
        ("undecodable records", str(report.undecodable)),
        ("pending credits", str(len(report.pending))),
        ("until", "end of log" if report.until is None else f"{report.until} ms"),
        (
            "views vs live",
            _match(report.views_match) + (f" ({report.views_note})" if report.views_note else ""),
        ),
    ]
    if report.dead_letters is not None:
        codes = ", ".join(f"{code} x{n}" for code, n in report.dead_letters.items())
        rows.append(("dead letters", f"{sum(report.dead_letters.values())} {codes}".strip()))
    for currency, totals in report.money.items():
        held = ", ".join(
            f"{name} {format_amount(totals.get(name, 0), currency)}"
            for name in ("deposits", "available", "escrow", "owed", "worker_balances",
                         "payouts", "fees")
        )  # fmt: skip
        rows.append((f"money {currency}", held))
    for row in rows:
        table.add_row(*row)
    return table


def _match(value: bool | None) -> str:
    return {True: "[green]match[/]", False: "[red]DIFFER[/]", None: "[yellow]not compared[/]"}[
        value
    ]


def _checks(report: AuditReport) -> Table:
    table = Table(title="checks", title_justify="left")
    for column in ("check", "invariant", "result", "first violations"):
        table.add_column(column, overflow="fold")
    for c in report.checks:
        if c.skipped:
            result = f"[yellow]skipped[/] ({c.skipped})"
        else:
            result = "[green]ok[/]" if not c.violations else f"[red]{len(c.violations)}[/]"
        table.add_row(c.name, str(c.invariant or "-"), result, "\n".join(c.violations[:5]))
    return table


def _digests(report: AuditReport) -> Table:
    table = Table(title="view digests (sha256)", title_justify="left")
    for column in ("view", "replayed log", "live (at its offsets)"):
        table.add_column(column)
    for view, digest in report.digests.items():
        live = report.live_digests.get(view)
        table.add_row(view, digest[:16], "-" if live is None else live[:16])
    return table


def render(report: AuditReport, console: Console) -> None:
    console.print(_summary(report))
    console.print(_checks(report))
    console.print(_digests(report))
    for o in report.pending[:10]:
        console.print(f"pending credit: {o.event_id} {format_amount(o.amount, o.currency)} "
                      f"to {o.worker_id}")  # fmt: skip
