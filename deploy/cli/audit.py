"""`piecework export | import | audit | dead-letters`: the log for auditors and operators."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from kafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from deploy.cli.errors import explain
from runtime.settings import Settings
from schemas.errors import SchemaError
from schemas.topics import Topics

err = Console(stderr=True)
Command = Callable[[argparse.Namespace, Settings], int]
EXIT_VIOLATION, EXIT_SETUP = 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    def add(name: str, func: Command, text: str) -> argparse.ArgumentParser:
        p = subparsers.add_parser(name, help=text, description=text)
        p.add_argument("--kafka", help="bootstrap servers (default: PIECEWORK_KAFKA)")
        p.add_argument("--prefix", help="topic prefix (default: PIECEWORK_TOPIC_PREFIX)")
        p.set_defaults(func=_guarded(func))
        return p

    p = add("export", cmd_export, "write the events topic to JSON lines (read committed), "
            "with each record's hash-chain header (`piecework verify` checks them)")
    p.add_argument("--out", default="-", help="file to write, - for stdout (default)")
    p.add_argument("--topic", help="topic to export (default: <prefix>.events)")
    p.add_argument("--pseudonymise", action="store_true",
                   help="replace actor ids by keyed HMAC pseudonyms and drop payloads, answers "
                        "and free text (for regulators; audits to the same figures)")
    p.add_argument("--key-file", metavar="FILE",
                   help="the pseudonymisation key (16-4096 secret bytes); another key gives "
                        "unlinkable pseudonyms")  # fmt: skip
    p = add("import", cmd_import, "write an export into the EMPTY events topic of a deployment")
    p.add_argument("file", help="a JSON-lines export (`piecework export`)")
    p.add_argument("--resume", action="store_true", help="continue a crashed import")
    p.add_argument("--force", action="store_true", help="import despite partition mismatches")
    p.add_argument("--chunk", type=int, default=5_000, help="records per Kafka transaction")
    add_jobs(p, "read and encode the file's partitions", "a --resume is serial")
    p = add("audit", cmd_audit, "replay the log, rebuild every view and check the invariants")
    p.add_argument("--events", metavar="FILE", help="audit an export instead of the topic")
    p.add_argument("--until", type=int, metavar="TIMESTAMP_MS",
                   help="stop each partition at its first event after this instant")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-live", action="store_true", help="do not compare with the live views")
    p.add_argument("--redis", help="live views' Redis URL (default: PIECEWORK_REDIS)")
    p.add_argument("--strict", action="store_true", help="an in-flight credit is a violation")
    p.add_argument("--grace-ms", type=int, default=None,
                   help="age after which an uncredited approval is lost, not pending")  # fmt: skip
    add_jobs(p, "replay partitions")
    p = add("dead-letters", cmd_dead_letters, "list the records of the dead-letter topic")
    p.add_argument("--json", action="store_true", help="one JSON object per record")
    p.add_argument("--limit", type=int, default=None, help="at most this many records")


def add_jobs(p: argparse.ArgumentParser, what: str, also: str = "") -> None:
    """--jobs N for the commands that replay the log in parallel processes (audit/parallel.py):
    the output is the serial pass's, byte for byte, or the pass is serial."""
    also = f", or {also}" if also else ""
    p.add_argument("--jobs", type=_jobs, default=None, metavar="N",
                   help=f"{what} in N processes (default: the CPUs; 1 = serial; logs under "
                        f"20,000 records{also} are done serially)")  # fmt: skip


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of processes: {text!r}") from None
    if not 1 <= n <= 256:
        raise argparse.ArgumentTypeError("--jobs takes 1 to 256")
    return n


def _guarded(command: Command) -> Command:
    """A missing topic, an unreadable file or an unreachable broker is a setup error (exit
    2) with one line of explanation, not a traceback."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        settings = _settings(args, settings)
        try:
            return command(args, settings)
        except (OSError, RuntimeError, KafkaError, SchemaError) as exc:
            # An unreachable broker gets the shared line with its hint (deploy.cli.errors).
            said = explain(exc, args, settings).line if isinstance(exc, KafkaError) else exc
            err.print(f"[red]piecework {args.command}:[/] {said}", soft_wrap=True)
            return EXIT_SETUP

    return run


def _settings(args: argparse.Namespace, s: Settings) -> Settings:
    """The process's settings with what --kafka, --prefix and --redis say instead."""
    return dataclasses.replace(
        s, kafka=args.kafka or s.kafka, redis=getattr(args, "redis", None) or s.redis,
        topics=Topics(args.prefix) if args.prefix else s.topics,
    )  # fmt: skip


@contextmanager
def _progress(
    label: str, total: int | None, done: Callable[[], int]
) -> Iterator[Callable[[], None]]:
    columns = (TextColumn(f"{label:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # Off the terminal (a pipe, a log file) a bar is only noise: an empty line at its end.
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal
                  ) as progress:  # fmt: skip
        bar = progress.add_task(label, total=total or None)
        yield lambda: progress.update(bar, completed=done())


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from audit.logfile import export
    from audit.source import KafkaLog
    from audit.verify import kafka_chain_fields

    key = None
    if args.pseudonymise or args.key_file:
        from audit.pseudonymise import read_key

        if not (args.pseudonymise and args.key_file):
            err.print("[red]piecework export:[/] --pseudonymise and --key-file go together")
            return EXIT_SETUP
        try:
            key = read_key(args.key_file)
        except ValueError as exc:
            err.print(f"[red]piecework export:[/] {exc}")
            return EXIT_SETUP
    log = KafkaLog(settings.kafka, args.topic or settings.topics.events, "piecework-export")
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    started = time.perf_counter()
    try:
        with _progress("export", log.total, lambda: log.done) as tick:
            if key is not None:
                from audit.pseudonymise import export_pseudonymised

                count = export_pseudonymised(log, out, key, tick)
            else:
                count = export(log, out, tick, kafka_chain_fields(log))
    finally:
        log.close()
        if out is not sys.stdout:
            out.close()
    seconds = time.perf_counter() - started
    err.print(f"exported {count:,} events from {log.topic} in {seconds:.2f}s "
              f"({count / max(seconds, 1e-9):,.0f} events/s)")  # fmt: skip
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from audit.importer import Importer, ImportRefused
    from audit.parallel import default_jobs

    jobs = args.jobs if args.jobs is not None else default_jobs()
    importer = Importer(args.file, settings.kafka, settings.topics, jobs)
    started = time.perf_counter()
    try:
        with _progress("check", importer.log.total, lambda: importer.log.done) as tick:
            count = importer.check(args.resume, args.force)
            tick()
        with _progress("import", importer.log.total, lambda: importer.log.done) as tick:
            written = importer.write(args.chunk, tick)
    except ImportRefused as exc:
        err.print(f"[red]import refused:[/] {exc}")
        return EXIT_SETUP
    seconds = time.perf_counter() - started
    err.print(f"imported {written:,} of {count:,} events into {importer.topic} in "
              f"{seconds:.2f}s ({written / max(seconds, 1e-9):,.0f} events/s)")  # fmt: skip
    return 0


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from audit import deadletters
    from audit.checks.credits import GRACE_MS
    from audit.live import snapshot
    from audit.report import CheckResult, render
    from audit.run import Options, audit
    from audit.source import FileLog, KafkaLog
    from audit.verify import follow_live, verify_file
    from consumers.stores.redis_store import RedisStore

    live, reason = None, ""
    read_dead_letters = None
    if args.events:
        reason = "auditing a file"
        source: FileLog | KafkaLog = FileLog(args.events)
    else:
        if args.no_live:
            reason = "--no-live"
        elif args.until is None:  # before the log is opened: the read must reach the views
            try:
                live = snapshot(RedisStore.from_url(settings.redis))
            except Exception as exc:  # an unreachable Redis skips one check, not the audit
                reason = f"live views unreachable: {exc}"
        source = KafkaLog(settings.kafka, settings.topics.events)

        def read_dead_letters() -> list[deadletters.Listed]:
            return list(deadletters.read(settings.kafka, settings.topics.dead_letter))

    # The grace is in the log's time: a simulation's scaled clock scales it too.
    grace = args.grace_ms if args.grace_ms is not None else GRACE_MS * settings.clock_speed
    from audit.parallel import default_jobs

    jobs = args.jobs if args.jobs is not None else default_jobs()
    options = Options(args.until, args.strict, int(grace), reason, jobs)
    chain = follow_live(source) if isinstance(source, KafkaLog) else None
    verifying = None
    if args.events and jobs > 1:  # a file's chains are checked in a process of their own
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        verifier = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
        verifying = verifier.submit(verify_file, args.events)
    try:
        with _progress("replay", source.total, lambda: source.done) as tick:
            report = audit(source, options, live, read_dead_letters, tick)
        # The hash chains (docs/AUDIT.md): a record edited, removed, inserted or reordered.
        if chain is not None:
            findings = chain.findings()
        else:
            verdict = verifying.result() if verifying is not None else verify_file(args.events)
            findings = verdict.findings
    finally:
        if isinstance(source, KafkaLog):
            source.close()
        if verifying is not None:
            verifier.shutdown(cancel_futures=True)
    report.checks.append(CheckResult("chain", None, [b.verdict() for b in findings]))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        render(report, Console())
    return 0 if report.ok else EXIT_VIOLATION


def cmd_dead_letters(args: argparse.Namespace, settings: Settings) -> int:
    from audit import deadletters

    listed = list(deadletters.read(settings.kafka, settings.topics.dead_letter, args.limit))
    if args.json:
        print(json.dumps([item.to_json() for item in listed], indent=2))
        return 0
    table = Table(title=f"{settings.topics.dead_letter}: {len(listed)} record(s)",
                  title_justify="left")  # fmt: skip
    for column in ("at", "origin", "consumer", "code", "reason", "value (first bytes)"):
        table.add_column(column, overflow="fold")
    for item in listed:
        j = item.to_json()
        if item.letter is None:
            table.add_row(f"{item.partition}/{item.offset}", "?", "?", item.code, item.error,
                          j["raw"][:2 * deadletters.PREVIEW_BYTES])  # fmt: skip
            continue
        o = j["origin"]
        table.add_row(f"{item.partition}/{item.offset}", f"{o['topic']} {o['partition']}/"
                      f"{o['offset']}", j["consumer"], j["code"], j["reason"],
                      f"{j['value_head']} ({j['value_bytes']} B)")  # fmt: skip
    Console().print(table)
    return 0
