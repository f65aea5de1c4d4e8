"""Run every bench in one go and write BENCHMARKS.md (and bench/last_run.json).

    .venv/bin/python bench/run.py [--quick] [--only ingest,claims,...] [--no-profile]

Quick mode shares one piecework stack between the benches and shrinks every size (a
smoke run, about a minute on an idle machine); full mode gives each bench a fresh stack
and the sizes of the brief (about ten minutes). Each bench is a module of bench/ whose
`run()` returns a dict; this file only sequences them and renders the report.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.report import render

BENCHES = ("ingest", "claims", "peer", "e2e", "replay", "memory", "webhooks", "feed",
           "listings", "e2e_suites")
# Old beside new in one run (issue 14, docs/DESIGN.md "Decisions by measurement"): each
# module has for_run(quick) and section(result); each brings its own stack if it needs one.
COMPARISONS = ("redis_memory", "codec_compare", "json_compare", "kafka_client_compare",
               "uvloop_compare", "processor_client_stack")
BENCHES += COMPARISONS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=",".join(BENCHES))
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--out", default=str(common.ROOT / "BENCHMARKS.md"))
    args = parser.parse_args(argv)
    wanted = [b.strip() for b in args.only.split(",") if b.strip()]
    profile = not args.quick and not args.no_profile
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "quick" if args.quick else "full",
        "machine": common.machine(),
        "versions": common.versions(),
        "load_before": os.getloadavg(),
        "benches": {},
        "seconds": {},
    }
    started = time.perf_counter()
    with ExitStack() as stack:
        shared = None
        if args.quick and {"ingest", "claims", "e2e", "memory"} & set(wanted):
            shared = stack.enter_context(common.bench_stack(
                ("processor", "api", "views", "timers")))  # fmt: skip
        for name in wanted:
            common.console.rule(f"[bold]{name}")
            t = time.perf_counter()
            try:
                results["benches"][name] = _one(name, args.quick, shared, profile, results)
            except Exception as exc:
                traceback.print_exc()
                results["benches"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            results["seconds"][name] = time.perf_counter() - t
    results["load_after"] = os.getloadavg()
    results["total_seconds"] = time.perf_counter() - started
    (common.ROOT / "bench" / "last_run.json").write_text(json.dumps(results, indent=1))
    report = render(results)
    if "webhooks" in results["benches"]:  # bench/report.py does not render it (yet)
        from bench import webhooks

        report += "\n" + webhooks.section(results["benches"]["webhooks"])
    if "listings" in results["benches"]:  # rendered by bench/listings.py, as webhooks
        from bench import listings

        report += "\n" + listings.section(results["benches"]["listings"])
    if "e2e_suites" in results["benches"]:  # rendered by bench/e2e_suites.py, as webhooks
        from bench import e2e_suites

        report += "\n" + e2e_suites.section(results["benches"]["e2e_suites"],
                                            results["benches"].get("e2e"))
    for name in COMPARISONS:
        if "error" not in results["benches"].get(name, {"error": "not run"}):
            report += "\n" + importlib.import_module(f"bench.{name}").section(
                results["benches"][name])
    Path(args.out).write_text(report)
    common.console.print(f"wrote {args.out} in {results['total_seconds']:.0f} s")
    return 0


def _one(name: str, quick: bool, shared: Any, profile: bool, results: dict) -> dict[str, Any]:
    if name == "ingest":
        from bench import ingest

        return ingest.run(quick, profile=profile, stack=shared)
    if name == "claims":
        from bench import claims

        return claims.run(quick, stack=shared, profile=profile)
    if name == "peer":
        from bench import peer

        closed = results["benches"].get("claims", {}).get("closed_loop", {})
        # the same number of tasks and concurrency as piecework's closed loop in (c)
        return peer.run(quick, tasks=closed.get("tasks"), concurrency=closed.get("concurrency", 32))
    if name == "e2e":
        from bench import e2e

        return e2e.run(quick, stack=shared)
    if name == "replay":
        from bench import replay_speed

        return replay_speed.run(quick)
    if name == "memory":
        from bench import memory

        return memory.run(quick, stack=shared)
    if name == "webhooks":
        from bench import webhooks

        return webhooks.run(quick, stack=shared)  # brings its own stack (webhooks role)
    if name == "feed":
        from bench import feed

        return feed.run(quick, stack=shared)  # its own stack (api, views) when none is shared
    if name == "listings":
        from bench import listings

        return listings.run(quick, stack=shared)  # its own api on the bench DB when none is shared
    if name == "e2e_suites":
        from bench import e2e_suites

        return e2e_suites.run(quick, stack=shared)  # suites, then the peer in suites
    if name in COMPARISONS:
        return importlib.import_module(f"bench.{name}").for_run(quick)
    raise ValueError(f"unknown bench {name!r} (known: {', '.join(BENCHES)})")


if __name__ == "__main__":
    raise SystemExit(main())
