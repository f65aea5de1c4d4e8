"""`piecework report`: platform power metrics from the live views or from a replay of the log."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from deploy.cli.audit import add_jobs
from runtime.settings import Settings

if TYPE_CHECKING:
    from consumers.power.report.history import History
    from consumers.stores.store import Reader

EXIT_INPUT = 1
MAX_TOP = 1_000


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report", help="platform power metrics: wages, unpaid time, rejections, concentration",
        description="Effective wages once unpaid time counts, rejection outliers, time to pay, "
        "concentration and fees; definitions in docs/METRICS.md. The terminal table reads the "
        "live views (PIECEWORK_REDIS); --html, --since and --until replay the log (the events "
        "topic, or --events FILE), so the figures rest on one cut of the log the page "
        "names.")  # fmt: skip
    p.add_argument("--events", type=Path, metavar="FILE",
                   help="a JSON-lines export (`piecework export`, - for stdin), folded in memory")
    p.add_argument("--currency", default="EUR", help="the currency reported (default EUR)")
    p.add_argument("--floor", metavar="AMOUNT",
                   help="wage floor per hour, e.g. 7.25 (default: the policy's for the currency)")
    p.add_argument("--top", type=int, default=10, help="requesters listed (default 10)")
    p.add_argument("--since", metavar="TIME",
                   help="only events at or after TIME (ISO date or time, UTC, or epoch ms)")
    p.add_argument("--until", metavar="TIME",
                   help="only events at or before TIME (ISO date or time, UTC, or epoch ms)")
    p.add_argument("--kafka", help="bootstrap servers (default: PIECEWORK_KAFKA)")
    p.add_argument("--prefix", help="topic prefix (default: PIECEWORK_TOPIC_PREFIX)")
    p.add_argument("--redis", help="the live views' Redis URL (default: PIECEWORK_REDIS)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--html", type=Path, metavar="FILE", help="also write an HTML report")
    add_jobs(p, "replay the log's partitions")
    p.set_defaults(func=cmd_report)  # fmt: skip


def parse_time(text: str) -> int:
    """Epoch ms from '1700000000000', '2024-03-04' or '2024-03-04T10:00[+01:00]' (naive: UTC)."""
    text = text.strip()
    if text.isdigit():
        if len(text) > 15:
            raise ValueError(f"{text!r}: epoch milliseconds too large")
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r}: not an ISO date or time, nor epoch ms") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@dataclass
class Replay:
    """A replay of the log: the power view folded over the window, and the history."""

    store: Reader
    history: History
    source: str
    clock_speed: float | None  # known for the live topic, not for a file
    skipped: int  # records that do not decode


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from consumers.power.figures import summarize
    from consumers.power.report.currency import in_currency
    from consumers.power.snapshot import collect
    from deploy.policy import policy_for
    from schemas.errors import SchemaError
    from schemas.money import CURRENCIES, parse_amount
    from schemas.topics import Topics

    err = Console(stderr=True)
    settings = dataclasses.replace(
        settings, kafka=args.kafka or settings.kafka, redis=args.redis or settings.redis,
        topics=Topics(args.prefix) if args.prefix else settings.topics)  # fmt: skip
    if args.currency not in CURRENCIES:
        known = ", ".join(sorted(CURRENCIES))
        err.print(f"[red]unknown currency {args.currency}[/] (one of {known})")
        return EXIT_INPUT
    if not 1 <= args.top <= MAX_TOP:
        err.print(f"[red]--top: between 1 and {MAX_TOP:,}[/]")
        return EXIT_INPUT
    try:
        floor = (parse_amount(args.floor) if args.floor
                 else policy_for(settings).wage_floors.get(args.currency))  # fmt: skip
        since = None if args.since is None else parse_time(args.since)
        until = None if args.until is None else parse_time(args.until)
    except ValueError as exc:
        err.print(f"[red]{exc}[/]")
        return EXIT_INPUT
    if floor is None:
        err.print(f"[red]the policy has no wage floor for {args.currency}[/]; pass --floor")
        return EXIT_INPUT
    if since is not None and until is not None and since > until:
        err.print("[red]--since is after --until[/]")
        return EXIT_INPUT
    replayed = args.events is not None or args.html or since is not None or until is not None
    try:
        if replayed:
            replay = _replay(args.events, settings, args.currency, since, until, args.jobs)
            reader = replay.store
        else:
            reader = _live_views(settings.redis)
        data = in_currency(collect(reader, args.currency))
    except (OSError, SchemaError) as exc:
        err.print(f"[red]{exc}[/]")
        return EXIT_INPUT
    report = summarize(data, floor, args.top)
    if replayed:
        history = replay.history.to_json()
        provenance = _provenance(args, replay, floor)
        if args.html:
            from consumers.power.report.html import render_html

            page = render_html(report, data, history, provenance)
            try:
                args.html.write_text(page, encoding="utf-8")
            except OSError as exc:
                err.print(f"[red]--html: {exc}[/]")
                return EXIT_INPUT
            err.print(f"wrote {args.html}")
        report = {**report, **history, "provenance": provenance}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        from consumers.power.report.table import render_tables

        Console().print(render_tables(report))
    return 0


def _software() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        mine = version("piecework")
    except PackageNotFoundError:
        mine = "unknown (not installed)"
    return f"piecework {mine}, Python {sys.version.split()[0]}"


def _provenance(args: argparse.Namespace, replay: Replay, floor: int) -> dict[str, Any]:
    found = replay.history.provenance()
    window = "".join(f" --{name} {getattr(args, name)}" for name in ("since", "until")
                     if getattr(args, name) is not None)  # fmt: skip
    events = args.events if args.events is not None and str(args.events) != "-" else "EXPORT"
    return {
        **found,
        "source": replay.source,
        "undecodable_skipped": replay.skipped,
        "clock_speed": replay.clock_speed,
        "software": _software(),
        "currency": args.currency,
        "floor": floor,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": f"piecework report --events {events} --currency {args.currency} "
                   f"--floor {floor / 1_000_000:g}{window} --html report.html (an export cut "
                   "at the end offsets above gives these figures)",
    }  # fmt: skip


def _replay(events: Path | None, settings: Settings, currency: str, since: int | None,
            until: int | None, jobs: int | None = None) -> Replay:  # fmt: skip
    """Fold the power view over the events of the window and the history over all of them
    up to `until`, in one pass over the file or the events topic: in `jobs` processes
    when the merge is provably the serial pass (audit/report_replay.py), else serially."""
    from audit.parallel import default_jobs
    from audit.report_replay import fold, replay
    from audit.source import FileLog, KafkaLog, parse_line, up_to
    from consumers.power.report.history import History

    jobs = default_jobs() if jobs is None else jobs

    def once(log: FileLog | KafkaLog) -> tuple[Reader, History, int]:
        done = replay(log, jobs, currency, since, until)
        if done is not None:
            return done
        history = History(currency, since, until)
        store, skipped = fold(log.items(until), history, None, since, until)
        return store, history, skipped

    if events is not None and str(events) == "-":
        lines = (parse_line(line, n) for n, line in enumerate(sys.stdin, 1) if line.strip())
        history = History(currency, since, until)
        store, skipped = fold(up_to(lines, until), history, None, since, until)
        return Replay(store, history, "replay of stdin", None, skipped)
    if events is not None:
        store, history, skipped = once(FileLog(events))
        return Replay(store, history, f"replay of {events}", None, skipped)
    try:
        topic = KafkaLog(settings.kafka, settings.topics.events, "piecework-report")
    except Exception as exc:  # kafka-python raises its own errors: no broker, no topic
        raise OSError(f"cannot read {settings.topics.events} at {settings.kafka} ({exc}); "
                      "run `piecework up` or pass --events FILE") from exc  # fmt: skip
    try:
        store, history, skipped = once(topic)
    finally:
        topic.close()
    return Replay(store, history, f"replay of topic {topic.label} at {settings.kafka}",
                  settings.clock_speed, skipped)  # fmt: skip


def _live_views(redis_url: str) -> Reader:
    import redis

    from consumers.stores.redis_store import RedisStore

    store = RedisStore.from_url(redis_url)
    try:
        store.client.ping()
    except redis.RedisError as exc:
        raise OSError(f"no view store at {redis_url} ({exc}); run `piecework up` "
                      "or pass --events FILE") from exc  # fmt: skip
    return store


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (`python -m deploy.cli.report`): `piecework report` by another name."""
    from deploy.cli import main as piecework

    return piecework(["report", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
