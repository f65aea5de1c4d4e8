"""One audit: replay a log source once, then ask every check for its verdict.

The caller takes the live views' snapshot BEFORE opening the source, so the log read
always reaches at least as far as the live views had (the comparison needs both).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from audit import deadletters, parallel
from audit.checks import (
    aggregates,
    credits,
    decoding,
    ids,
    money,
    sequences,
    views,
    wallets,
)
from audit.live import LiveViews
from audit.replay import Replay
from audit.report import AuditReport, CheckResult
from audit.source import LogSource
from consumers.views.ledger import ledger_totals


@dataclass(frozen=True)
class Options:
    until: int | None = None
    strict: bool = False
    grace_ms: int = credits.GRACE_MS
    # Why the live comparison is off ("" = compare if a snapshot is given).
    no_live_reason: str = ""
    # Worker processes for the replay (audit/parallel.py); 1 = serial, in this process.
    jobs: int = 1


def _views_result(
    replay: Replay, live: LiveViews | None, options: Options
) -> tuple[CheckResult, bool | None, str]:
    skipped = options.no_live_reason
    if options.until is not None:
        skipped = "--until replays a prefix of the log; the live views are at its end"
    elif not skipped and live is None:
        skipped = "no live views to compare with"
    if skipped:
        return CheckResult("views", 4, [], skipped), None, skipped
    assert live is not None
    found = views.check(replay.digests_at_live(), live.digests)
    behind = any(
        live.offsets[view].get(p, -1) < last
        for view in live.offsets
        for p, last in replay.last_positions.items()
    )
    note = "compared at the live offsets (behind the log end)" if behind else "caught up"
    return CheckResult("views", 4, found), not found, note


def audit(
    source: LogSource,
    options: Options = Options(),
    live: LiveViews | None = None,
    dead_letters: Callable[[], Sequence[deadletters.Listed]] | None = None,
    tick: Callable[[], None] | None = None,
) -> AuditReport:
    """`dead_letters` reads the dead-letter topic when auditing the topic, after the replay
    (dead letters only accumulate); None for an export, whose undecodable records were
    exported raw and so are accounted for."""
    live_offsets = None if options.until is not None or live is None else live.offsets
    base = {"grace_ms": options.grace_ms, "strict": options.strict, "until": options.until}
    started = time.perf_counter()
    merged = parallel.replay(source, options.jobs, base, live_offsets, tick)
    if merged is not None:  # the same checks and store as the serial pass (audit/parallel.py)
        replay, folds = merged
        _, seq, aggs, credit_check, _ = folds
    else:
        credit_check = credits.Credits(options.grace_ms, options.strict, options.until)
        seq, aggs = sequences.Sequences(), aggregates.Aggregates()
        folds = [ids.UniqueIds(), seq, aggs, credit_check, wallets.Wallets()]
        replay = Replay(folds, live_offsets)
        replay.feed(source.items(options.until), tick)
    seconds = time.perf_counter() - started

    totals = ledger_totals(replay.store)
    money_found = money.check(totals, credit_check.uncredited_amounts(), aggs.held())
    views_result, views_match, views_note = _views_result(replay, live, options)
    topic = source.label
    letters = None if dead_letters is None else dead_letters()
    if letters is not None:
        origins = {d.origin for d in letters if d.origin is not None}
    else:
        origins = {(topic, u.partition, u.offset) for u in replay.undecodable
                   if u.code != "bad_export"}  # fmt: skip
    undecodable = [(u.partition, u.offset) for u in replay.undecodable]
    results = [CheckResult(c.name, c.invariant, c.violations()) for c in folds]
    results += [
        CheckResult("money", 2, money_found),
        views_result,
        CheckResult("dead_letters", 5, decoding.check(undecodable, origins, topic)),
    ]
    return AuditReport(
        source=source.label,
        events=replay.events,
        seconds=seconds,
        checks=results,
        undecodable=len(replay.undecodable),
        partitions=len(set(source.partitions) | set(replay.last_positions)),
        aggregates=seq.counts(),
        pending=credit_check.pending(),
        money=totals,
        digests=replay.digests(),
        live_digests={} if views_match is None or live is None else live.digests,
        views_match=views_match,
        views_note=views_note,
        until=options.until,
        dead_letters=None if letters is None else deadletters.codes(letters),
    )
