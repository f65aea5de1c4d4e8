"""Render the results of bench/run.py as BENCHMARKS.md (figures, targets, ratios, profiles)."""

from __future__ import annotations

from typing import Any

NAN = float("nan")


def _n(v: Any, digits: int = 0) -> str:
    if not isinstance(v, int | float) or v != v:
        return "-"
    return f"{v:,.{digits}f}"


def _verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    if not isinstance(value, int | float) or value != value:
        return "not measured"
    ok = value >= target if higher_is_better else value <= target
    return "**meets**" if ok else "**misses**"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _cpu(cpu: dict[str, dict[str, float]] | None, unit: str) -> str:
    if not cpu:
        return ""
    rows = [[name, _n(v["cpu_s"], 2), _n(v["cores"], 2), _n(v["ms_per_1k"], 0)]
            for name, v in cpu.items()]  # fmt: skip
    return "\n\n" + _table(["process", "CPU s", "cores busy", f"CPU ms per 1,000 {unit}"], rows)


def _profile(title: str, prof: dict[str, Any] | None, top: int = 12) -> str:
    if not prof:
        return ""
    if "error" in prof:
        return f"\n\n{title}: profile failed ({prof['error']})"
    rows = [[f"`{frame}`", _n(pct, 1)] for frame, pct in prof["self"][:top]]
    files = ", ".join(f"{f} {pct:.0f}%" for f, pct in prof["files"][:8])
    return (f"\n\n**{title}** (py-spy, {prof['samples']:,} busy samples; "
            f"{prof.get('idle_samples', 0):,} idle select/wait samples left out)\n\n"
            + _table(["frame (own time)", "% of busy samples"], rows)
            + f"\n\nBy source file (own time): {files}")  # fmt: skip


def _error(name: str, r: dict[str, Any]) -> str | None:
    return f"## {name}\n\nFailed: `{r['error']}`\n" if "error" in r else None


def ingest(r: dict[str, Any]) -> str:
    if (e := _error("(a) Task ingest", r)) is not None:
        return e
    pw, raw, perf = r["piecework"], r["raw"], r["producer_performance"]
    rows = [
        ["Kafka ProducerPerformance (JVM, acks=all), one record per task",
         _n(perf["records_s"]), "reference"],
        ["kafka-python producer (acks=all), one record per task", _n(raw["records_s"]),
         f"raw / ProducerPerformance = {r['ratios']['raw / ProducerPerformance']:.2f}"],
        [f"kafka-python producer, PostTasks records of 500 tasks ({_n(raw['command_bytes'])} B)",
         _n(raw["command_tasks_s"]), "what the API's gateway sends"],
        [f"**piecework**: Client -> API -> processor -> reply (batches of {pw['batch']}, "
         f"{pw['concurrency']} in flight)", f"**{_n(pw['tasks_s'])}**",
         f"piecework / raw per-task = {r['ratios']['piecework / raw (per-task records)']:.2f}; "
         f"/ raw PostTasks = {r['ratios']['piecework / raw (PostTasks records)']:.2f}"],
    ]  # fmt: skip
    text = (f"## (a) Task ingest\n\nRecords of one realistic TaskSpec ({r['record_bytes']} bytes "
            f"encoded). Target: >= {_n(r['target_tasks_s'])} tasks/s through piecework: "
            f"{_verdict(pw['tasks_s'], r['target_tasks_s'])} "
            f"({r['ratios']['piecework / target']:.2f} of target).\n\n"
            + _table(["path", "tasks/s", "ratio"], rows)
            + f"\n\npiecework: {_n(pw['tasks'])} tasks in {pw['seconds']:.1f} s; median batch "
            f"reply {_n(pw['batch_reply_ms_p50'])} ms. CPU during the piecework run:"
            + _cpu(pw.get("cpu"), "tasks")
            + _profile("Processor under ingest load", pw.get("profile_processor"))
            + _profile("API under ingest load", pw.get("profile_api_ingest")))  # fmt: skip
    return text + "\n"


def claims(r: dict[str, Any], peer: dict[str, Any] | None) -> str:
    if (e := _error("(c) Claim latency", r)) is not None:
        return e
    o, f, c = r["open_loop"], r["floor_ms"], r["closed_loop"]
    out = o["outcome"]
    text = (f"## (c) Claim latency\n\nPOST /v1/claims, open loop at {_n(o['offered_per_s'])} "
            f"claims/s offered for {_n(o['requests'])} requests over 100 workers, latency from "
            f"each request's scheduled send time. Target p99 <= {_n(r['target_p99_ms'])} ms: "
            f"{_verdict(o['p99'], r['target_p99_ms'], higher_is_better=False)} "
            f"(p99 / target = {r['ratios']['p99 / target']:.1f}).\n\n"
            + _table(["", "p50 ms", "p90 ms", "p99 ms", "max ms", "n"], [
                ["open loop @200/s", _n(o["p50"]), _n(o["p90"]), _n(o["p99"]), _n(o["max"]),
                 o["n"]],
                ["floor: 1 worker, closed loop, no competition", _n(f["p50"], 1), _n(f["p90"], 1),
                 _n(f["p99"], 1), _n(f["max"], 1), f["n"]],
                [f"closed loop, {c['concurrency']} workers claim + submit "
                 f"({_n(c['tasks_s'], 1)} tasks/s, {c['empty_claims']} 204s)",
                 _n(c["claim_ms"]["p50"]), _n(c["claim_ms"]["p90"]), _n(c["claim_ms"]["p99"]),
                 _n(c["claim_ms"]["max"]), c["claim_ms"]["n"]],
            ])
            + f"\n\nOutcomes at 200/s: {out['claimed']} claimed, {out['empty']} answered 204 "
            "(every candidate of both rounds lost to other workers, or none visible), "
            f"{out['error']} errors, "
            f"{out['lost']} still open after the {30} s drain (counted at the drain deadline). "
            f"Achieved {_n(o['achieved_claims_s'], 1)} claims/s of 200 offered; "
            f"{_n(o['attempts_mean'], 2)} ClaimTask commands per successful claim on average; "
            f"the sender fell {_n(o['send_lag_ms'])} ms behind its schedule."
            + _cpu(o.get("cpu"), "claims")
            + _profile("API under claim load", r.get("profile_api"))
            + _profile("Processor under claim load", r.get("profile_processor_claims")))
    return text + "\n"  # fmt: skip


def peer(p: dict[str, Any], claims_r: dict[str, Any] | None) -> str:
    if (e := _error("(e) Peer: a Redis-list work queue", p)) is not None:
        return e
    pc, po = p["closed_loop"], p["open_loop"]
    rows = [["Redis list (LMOVE claim, LREM ack)", _n(pc["tasks_s"]), _n(po["p50"], 2),
             _n(po["p99"], 2), _n(pc["claim_ms"]["p50"], 2), _n(pc["claim_ms"]["p99"], 2)]]
    if claims_r and "closed_loop" in claims_r:
        cc, co = claims_r["closed_loop"], claims_r["open_loop"]
        rows.append(["piecework (claim_next + submit, via HTTP)", _n(cc["tasks_s"], 1),
                     _n(co["p50"]), _n(co["p99"]), _n(cc["claim_ms"]["p50"]),
                     _n(cc["claim_ms"]["p99"])])  # fmt: skip
        rows.append(["ratio piecework / peer", f"{cc['tasks_s'] / pc['tasks_s']:.4f}",
                     f"{co['p50'] / po['p50']:.0f}x", f"{co['p99'] / po['p99']:.0f}x", "", ""])
    return (f"## (e) Peer: a plain Redis-list work queue\n\n{_n(pc['tasks'])} tasks, "
            f"{pc['concurrency']} concurrent workers (closed loop: claim then acknowledge), and "
            f"the same 200 claims/s open-loop schedule as (c).\n\n"
            + _table(["system", "claim+ack tasks/s", "claim p50 ms @200/s", "claim p99 ms @200/s",
                      "claim p50 ms closed loop", "claim p99 ms closed loop"], rows)
            + "\n\n" + PEER_CAVEATS)  # fmt: skip


PEER_CAVEATS = """What the peer does NOT give, so the comparison is fair:
- **No log.** A claim is an LMOVE, an acknowledgement an LREM: nothing records who took
  what when, so there is nothing to audit, dispute or replay; piecework writes every claim
  as an event in a Kafka transaction and answers only once it is durable (acks=all).
- **No audit, no replay.** The two lists are the only state; lose Redis (or a worker
  between LMOVE and LREM) and what happened is gone or must be guessed by a reaper.
  piecework rebuilds every view from the log and checks invariants (`piecework audit`).
- **No money, no exactly-once.** No escrow, approval, payment or fee; a retried request
  can claim twice. piecework reserves escrow, pays each approval exactly once (outbox
  in the same transaction) and conserves money to the micro-unit.
- **No rules.** No qualifications, no "never the same task twice for a worker", no lease
  expiry, no per-task assignment limit decided by a single writer.
- **No HTTP, no auth.** The peer's workers talk to Redis directly; piecework's go through
  an authenticated HTTP API, a Kafka round trip and a transaction.
"""


def e2e(r: dict[str, Any]) -> str:
    if (e := _error("(b) End to end", r)) is not None:
        return e
    st = r["stages_s"]
    return (f"## (b) End to end\n\npost -> claim -> submit -> approve -> credited in the ledger "
            f"view, full stack (processor, api, views, timers), {r['workers']} workers, "
            f"{r['requesters']} requesters, {r['approvers']} approvers in flight. Target >= "
            f"{_n(r['target_tasks_s'])} tasks/s: {_verdict(r['tasks_s'], r['target_tasks_s'])} "
            f"(**{_n(r['tasks_s'], 1)} tasks/s**, {r['ratios']['piecework / target']:.4f} of "
            f"target).\n\n"
            + _table(["figure", "value"], [
                ["tasks fully processed", _n(r["tasks"])],
                ["seconds, first post to last credit in the ledger view", _n(r["seconds"], 1)],
                ["all posted / all claimed / all approved / ledger shows all (s)",
                 " / ".join(_n(st.get(k), 1) for k in ("posted", "claimed", "approved", "ledger"))],
                ["ledger view lag after the last approval (ms)",
                 _n(r["ledger_lag_after_last_approval_ms"])],
                ["ClaimTask commands per successful claim (mean)",
                 _n(r["claim_attempts_mean"], 2)],
                ["claim_next answered 204 (lost every candidate or saw none)",
                 _n(r["empty_claims"])],
                ["claim_next latency p50 / p99 (ms)",
                 f"{_n(r['claim_ms']['p50'])} / {_n(r['claim_ms']['p99'])}"],
                ["CPU of the stack per task (ms; bench client excluded)",
                 _n(r.get("cpu_ms_per_task_stack"), 2)],
                ["ceiling on 2 cores = 2,000 ms/s / CPU per task (tasks/s)",
                 _n(r.get("cpu_ceiling_tasks_s"))],
            ])
            + _cpu(r.get("cpu"), "tasks") + "\n")  # fmt: skip


def replay(r: dict[str, Any]) -> str:
    if (e := _error("(d) Replay / audit speed", r)) is not None:
        return e
    per_cpu = r.get("passes_events_per_cpu_s", {})
    rows = [[k, _n(v), _n(per_cpu.get(k))] for k, v in r["passes_events_s"].items()]
    return (f"## (d) Replay / audit speed\n\n{_n(r['events'])} events decided by the real "
            f"domain ({r['source']}). Target >= {_n(r['target_events_s'])} events/s for decode "
            f"+ fold: {_verdict(r['events_s'], r['target_events_s'])} "
            f"({r['ratios']['decode+fold / target']:.3f} of target).\n\n"
            + _table(["pass", "events/s (wall)", "events per CPU-second"], rows) + "\n")


def memory(r: dict[str, Any]) -> str:
    if (e := _error("(f) Memory", r)) is not None:
        return e
    rows = [[k, _n(v), _n(r["target_mb"]), _verdict(v, r["target_mb"], higher_is_better=False)]
            for k, v in r["at_1m_mb"].items()]  # fmt: skip
    red, sh = r["redis"], r["processor_shard"]
    note = (f" Measured with {_n(r['tasks'])} tasks and extrapolated linearly to 1M."
            if r["extrapolated_to_1m"] else "")
    return (f"## (f) Memory with 1,000,000 tasks\n\n{note}\n\n"
            + _table(["process", "MB at 1M tasks", "target MB", "verdict"], rows)
            + f"\n\n- Redis: {_n(red['events'])} events folded by all five views in "
            f"{red['seconds']:.0f} s ({_n(red['events_s'])} events/s through RedisStore.apply), "
            f"{_n(red['bytes_per_task'])} bytes per task, {_n(red['keys_added'])} keys.\n"
            f"- Processor: a Shard of {_n(sh['tasks'])} tasks and {_n(sh['replies'])} kept "
            f"replies: RSS {_n(sh['rss_mb'])} MB (interpreter and imports "
            f"{_n(sh['baseline_mb'])} MB), {_n(sh['bytes_per_task'])} bytes per task; built in "
            f"{sh['seconds']:.0f} s.\n"
            f"- RSS at start -> after the fold and real traffic (MB): "
            + ", ".join(f"{k} {_n(r['rss_start_mb'][k])} -> {_n(v)}"
                        for k, v in r["rss_after_mb"].items()) + "\n")  # fmt: skip


def render(res: dict[str, Any]) -> str:
    b = res["benches"]
    m, v = res["machine"], res["versions"]
    head = (f"# piecework benchmarks\n\nGenerated by `.venv/bin/python bench/run.py"
            f"{' --quick' if res['mode'] == 'quick' else ''}` on {res['date']} "
            f"({res['mode']} mode, {res['total_seconds']:.0f} s). Every bench measures its "
            f"reference in the same run; read the ratios, not the absolute figures: the "
            f"machine is shared (load average {res['load_before'][0]:.1f} before, "
            f"{res['load_after'][0]:.1f} after; 'other processes' in the CPU tables is "
            f"everyone else's use of the 2 cores during the measurement).\n\n"
            f"**Machine**: {m['nproc']} cores, {m['cpu']}, {m['memory_gib']:.1f} GiB, "
            f"Linux {m['kernel']}.\n\n**Versions**: "
            + ", ".join(f"{k} {val}" for k, val in v.items()) + ".\n")  # fmt: skip
    summary = [["(a) ingest through piecework", "tasks/s", ">= 20,000",
                _n(b.get("ingest", {}).get("piecework", {}).get("tasks_s"))],
               ["(b) end to end", "tasks/s", ">= 5,000", _n(b.get("e2e", {}).get("tasks_s"), 1)],
               ["(c) claim p99 @200/s", "ms", "<= 50",
                _n(b.get("claims", {}).get("open_loop", {}).get("p99"))],
               ["(d) replay decode + fold", "events/s", ">= 100,000",
                _n(b.get("replay", {}).get("events_s"))]]  # fmt: skip
    for k, val in b.get("memory", {}).get("at_1m_mb", {}).items():
        summary.append([f"(f) {k} at 1M tasks", "MB", "<= 300", _n(val)])
    parts = [head, "## Summary\n\n" + _table(["figure", "unit", "target", "measured"], summary)]
    if "ingest" in b:
        parts.append(ingest(b["ingest"]))
    if "e2e" in b:
        parts.append(e2e(b["e2e"]))
    if "claims" in b:
        parts.append(claims(b["claims"], b.get("peer")))
    if "replay" in b:
        parts.append(replay(b["replay"]))
    if "peer" in b:
        parts.append(peer(b["peer"], b.get("claims")))
    if "memory" in b:
        parts.append(memory(b["memory"]))
    parts.append("## Reproduce\n\n`.venv/bin/python bench/run.py` (full, ~10 min) or "
                 "`--quick`; one bench: `.venv/bin/python -m bench.ingest` (claims, e2e, peer, "
                 "replay_speed, memory). Raw figures of the last run: `bench/last_run.json`. "
                 "Older single-purpose scripts: `bench/views_apply.py`, `bench/queue_query.py`, "
                 "`bench/replay.py`.\n")
    return "\n\n".join(parts)
