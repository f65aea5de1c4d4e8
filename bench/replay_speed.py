"""(d) Replay / audit speed: events/s of decoding and folding a log of >= 100,000 events.

Calls bench/replay.py's passes (another engineer's: a realistic log decided by the real
domain in testkit/replay_log.py; decode / apply / fold) and times them here. If it is
missing or fails, measures decode + consumers.engine.runner.fold_log into a MemoryStore itself.

    .venv/bin/python -m bench.replay_speed [--quick]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.common import ROOT, console, ratio

TARGET_EVENTS_S = 100_000


def _external(events: int) -> dict[str, Any] | None:
    """bench/replay.py's own passes (decode, decode + apply, decode + fold), timed here.

    Its audit passes and cProfile are left to running it by hand: they take minutes.
    """
    if not (ROOT / "bench" / "replay.py").exists():
        return None
    try:
        from bench import replay
        from testkit.replay_log import encode_log, make_log

        started = time.perf_counter()
        log = make_log(events)
        raws = encode_log(log)
        made = time.perf_counter() - started
        passes, per_cpu = {}, {}
        for label, fn in (("decode only", replay.decode_only),
                          ("decode + Shard.apply", replay.decode_apply),
                          ("decode + fold_log (MemoryStore)", replay.decode_fold)):  # fmt: skip
            started, cpu = time.perf_counter(), time.process_time()
            fn(raws)
            passes[label] = len(log) / (time.perf_counter() - started)
            per_cpu[label] = len(log) / (time.process_time() - cpu)
    except Exception as exc:  # another engineer's file: never let it sink the run
        console.print(f"[yellow]bench/replay.py unusable ({exc!r}); measuring here instead")
        return None
    return {"source": "bench/replay.py (decode_only, decode_apply, decode_fold)",
            "events": len(log), "records": len(raws), "log_generation_s": made,
            "passes_events_s": passes, "passes_events_per_cpu_s": per_cpu,
            "events_s": passes["decode + fold_log (MemoryStore)"]}  # fmt: skip


def _internal(events: int) -> dict[str, Any]:
    from consumers.engine.runner import fold_log
    from consumers.stores.memory_store import MemoryStore
    from schemas.codec import decode_events, decode_positioned
    from testkit.replay_log import encode_log, make_log

    log = make_log(events)
    raws = encode_log(log)
    started = time.perf_counter()
    for _, _, raw in raws:
        decode_events(raw)
    decode = len(log) / (time.perf_counter() - started)
    started = time.perf_counter()
    fold_log((rec for p, o, raw in raws for rec in decode_positioned(p, o, raw)), MemoryStore())
    fold = len(log) / (time.perf_counter() - started)
    return {"source": "bench/replay_speed.py", "events": len(log), "events_s": fold,
            "passes_events_s": {"decode only": decode, "decode + fold_log": fold}}  # fmt: skip


def run(quick: bool = False) -> dict[str, Any]:
    events = 20_000 if quick else 120_000
    from runtime import gc_tuning

    gc_tuning.tune()  # as `piecework audit` and every role run
    result = _external(events) or _internal(events)
    result["target_events_s"] = TARGET_EVENTS_S
    result["ratios"] = {"decode+fold / target": ratio(result["events_s"], TARGET_EVENTS_S)}
    console.print(f"  replay: {result['events_s']:,.0f} events/s decode + fold")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    console.print(run(parser.parse_args().quick))
