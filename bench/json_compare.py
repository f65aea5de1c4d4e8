"""JSON at the API: the stdlib beside orjson and msgspec.json, on realistic bodies, one run.

Parsing: broker.api.json_input.parse (json.loads, then the walk that enforces depth 32,
the signed 64-bit range, finite numbers and valid strings) beside the same walk after
orjson.loads or msgspec.json.decode, and beside the bare parsers (what the walk costs).
A faster parser cannot drop the walk: orjson takes 1,023 levels and unsigned 64-bit
integers, msgspec any depth; both name offsets, not JSON paths. Then the step after the
parse that a body pays on every request, building its dataclasses (broker.api.bodies),
for scale. Serialising: json.dumps of the plain answer (aiohttp's web.json_response)
beside orjson.dumps and msgspec.json.encode.

Bodies: a 500-task batch as bench/common.task_spec makes them (~146 KB), a bulk review
of 1,000 items, a worker's submission with an answer, a claim. Answers: a 100-task page
and a task, as the API serves them. Every path is timed `--repeat` times (alternating
order); medians per call and ratios to the stdlib.

    .venv/bin/python -m bench.json_compare [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.common import console, task_spec


def bodies() -> dict[str, bytes]:
    batch = {"batch_id": "b1", "tasks": [task_spec(i) for i in range(500)]}
    review = {"items": [{"submission_id": f"acme:b1.0:{i}:c1", "decision": "reject" if i % 7
                         else "approve", "reason": "the label does not match the picture"}
                        for i in range(1_000)]}  # fmt: skip
    submit = {"answer": {"label": "cat", "confidence": 0.93, "boxes": [[12, 40, 200, 180]],
                         "note": "grey cat on a sofa, partly hidden"}}  # fmt: skip
    return {name: json.dumps(body).encode() for name, body in
            (("post 500 tasks", batch), ("review 1,000", review), ("submit", submit),
             ("claim", {"task_id": "acme:b1.0:17"}))}  # fmt: skip


def answers() -> dict[str, Any]:
    task = {
        "task_id": "acme:b1.0:17",
        "status": "open",
        "requester": "acme",
        "batch": "b1.0",
        "kind": "image_labelling",
        "title": "Which animal is this?",
        "reward": 30_000,
        "fee": 6_000,
        "currency": "EUR",
        "assignments": 1,
        "lease_seconds": 900,
        "expires_at": 1_700_604_800_000,
        "auto_approve_seconds": 259_200,
        "estimated_seconds": 15,
        "priority": 0,
        "qualifications": ["fold"],
        "payload": task_spec(17)["payload"],
        "payload_ref": None,
        "below_wage_floor": False,
        "posted_at": 1_700_000_000_000,
        "closed_at": None,
        **{
            c: 0
            for c in (
                "claimed",
                "released",
                "expired_claims",
                "submitted",
                "approved",
                "rejected",
                "disputed",
                "overturned",
                "bonuses",
                "bonus_amount",
            )
        },
    }
    page = {
        "requester_id": "acme",
        "batch_id": "b1",
        "next_cursor": "MTAw",
        "items": [{**task, "task_id": f"acme:b1.0:{i}"} for i in range(100)],
    }
    return {"task page (100)": page, "task": task}


def parsers() -> dict[str, Callable[[bytes], Any]]:
    import msgspec
    import orjson

    from broker.api import json_input

    def walked(loads: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
        def parse(raw: bytes) -> Any:
            value = loads(raw)
            json_input._check(value, 1)  # the same walk parse() runs
            return value

        return parse

    return {"stdlib + walk (today)": json_input.parse, "orjson + walk": walked(orjson.loads),
            "msgspec.json + walk": walked(msgspec.json.decode),
            "stdlib alone": json.loads, "orjson alone": orjson.loads}  # fmt: skip


def serialisers() -> dict[str, Callable[[Any], Any]]:
    import msgspec
    import orjson

    return {"json.dumps (today)": json.dumps, "orjson.dumps": orjson.dumps,
            "msgspec.json.encode": msgspec.json.encode}  # fmt: skip


def _per_call_us(fn: Callable[[Any], Any], arg: Any, budget_s: float = 0.3) -> float:
    n, started = 0, time.perf_counter()
    while True:
        fn(arg)
        n += 1
        elapsed = time.perf_counter() - started
        if elapsed > budget_s and n >= 3:
            return elapsed / n * 1e6


def _build_us() -> dict[str, float]:
    """Building the body's dataclass after the parse, as broker.api.responses.build does."""
    from broker.api import bodies as b
    from schemas.fields import from_plain

    batch = json.loads(bodies()["post 500 tasks"])
    cls = getattr(b, "BatchBody", None)
    if cls is None:
        return {}
    return {"post 500 tasks": _per_call_us(lambda d: from_plain(cls, d), batch)}


def run(repeat: int = 3) -> dict[str, Any]:
    raws, outs = bodies(), answers()
    ps, ss = parsers(), serialisers()
    for name, raw in raws.items():  # every parser reads the same value
        assert all(p(raw) == json.loads(raw) for p in ps.values()), name
    times: dict[str, dict[str, list[float]]] = {}
    for r in range(repeat):
        for name, raw in raws.items():
            for label in list(ps) if r % 2 == 0 else list(reversed(ps)):
                times.setdefault(f"parse {name}", {}).setdefault(label, []).append(
                    _per_call_us(ps[label], raw)
                )
        for name, value in outs.items():
            for label in list(ss) if r % 2 == 0 else list(reversed(ss)):
                times.setdefault(f"serialise {name}", {}).setdefault(label, []).append(
                    _per_call_us(ss[label], value)
                )
    med = {case: {label: statistics.median(v) for label, v in by.items()}
           for case, by in times.items()}  # fmt: skip
    ratio = {case: {label: by[next(iter(by))] / us for label, us in by.items()}
             for case, by in med.items()}  # fmt: skip
    for case, by in med.items():
        console.print(f"  {case}: " + ", ".join(f"{k} {v:,.0f} us (x{ratio[case][k]:.2f})"
                                                for k, v in by.items()))  # fmt: skip
    return {"repeat": repeat, "body_bytes": {k: len(v) for k, v in raws.items()},
            "median_us": med, "speedup_vs_today": ratio, "build_dataclasses_us": _build_us(),
            "runs_us": times}  # fmt: skip


def for_run(quick: bool) -> dict[str, Any]:
    """bench/run.py's entry: smaller and once in quick mode."""
    return run(repeat=1 if quick else 3)


def section(r: dict[str, Any]) -> str:
    lines = [
        f"## JSON at the API: stdlib beside orjson and msgspec (us per call, median of "
        f"{r['repeat']}; x = speed-up on today)",
        "",
    ]
    for case, by in r["median_us"].items():
        lines.append(
            f"- {case}: "
            + ", ".join(
                f"{k} {v:,.0f} (x{r['speedup_vs_today'][case][k]:.2f})" for k, v in by.items()
            )
        )
    if r["build_dataclasses_us"]:
        lines.append(
            f"- building the 500-task body's dataclasses after the parse: "
            f"{r['build_dataclasses_us']['post 500 tasks']:,.0f} us"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    found = run(parser.parse_args().repeat)
    print(json.dumps({k: v for k, v in found.items() if k != "runs_us"}, indent=1))
    print(section(found))
