"""Decode + validate and encode of real records: the codec before msgspec Structs beside
the codec now, in one run (issue 14, docs/DESIGN.md "Codec").

The records: every events record of a realistic log decided by the real domain
(testkit/replay_log: all the event types a market produces), every command that log's
simulation sent, and 500-task PostTasks commands as the API sends them.

- old: schemas/ as it was at BASELINE (frozen dataclasses, msgpack.unpackb, then the
  compiled field decoders of schemas/fields.py), read out of git (`git archive`, read
  only) into a temporary directory and imported as the package `old_schemas`;
- new: this tree's schemas.codec (msgspec decoding straight into the Structs);
- msgpack.unpackb alone: the floor of the old path (no validation).

Both codecs decode the same bytes and must agree (the same plain maps, checked before
timing); both encode what they decoded (the records they write must read as the same
maps; how many are the same bytes is reported: the Structs write fields in declaration
order, the old encoder converted fields last). Every path is timed `--repeat` times in
alternating order; medians per second, and new/old ratios. The plain `msgpack` package
reads every record first, as an independent reader.

    .venv/bin/python -m bench.codec_compare [--events 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import io
import json
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import msgpack

from bench.common import console, task_spec
from runtime import gc_tuning

GOAL_RATIO = 3.0
BASELINE = "29f4fc1"  # the last commit with the dataclass codec
ROOT = Path(__file__).resolve().parent.parent
_IMPORT = re.compile(r"^(\s*)(from|import) schemas\b", re.MULTILINE)


def old_codec(commit: str = BASELINE) -> ModuleType:
    """schemas/ at `commit`, importable as `old_schemas` (its own imports renamed);
    returns its codec module."""
    where = Path(tempfile.mkdtemp(prefix="pw-old-schemas-"))
    atexit.register(shutil.rmtree, where, ignore_errors=True)
    archive = subprocess.run(["git", "archive", commit, "schemas"], cwd=ROOT, check=True,
                             capture_output=True).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(".py"):
                text = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
                target = where / "old_schemas" / Path(member.name).relative_to("schemas")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(_IMPORT.sub(r"\1\2 old_schemas", text))
    sys.path.insert(0, str(where))
    return importlib.import_module("old_schemas.codec")


def corpus(events: int) -> tuple[list[bytes], list[bytes]]:
    """(events records, command records), real bytes as Kafka holds them."""
    from schemas.codec import encode_command
    from schemas.commands import PostTasks
    from schemas.envelope import CommandEnvelope
    from schemas.fields import from_plain
    from testkit.replay_log import LogMaker, encode_log

    sent: list[CommandEnvelope] = []

    class Recording(LogMaker):
        def push(self, when: int, env: CommandEnvelope) -> None:
            sent.append(env)
            super().push(when, env)

    log = Recording().make(events)
    records = [raw for _, _, raw in encode_log(log)]
    commands = [encode_command(env) for env in sent]
    for b in range(20):  # what the API sends for a big batch: 500 tasks a command
        cmd = from_plain(PostTasks, {"requester_id": "acme", "batch_id": f"b{b}.0",
                                     "tasks": [task_spec(i) for i in range(500)]})  # fmt: skip
        commands.append(encode_command(CommandEnvelope(f"post{b}", "acme", "requester",
                                                       f"post{b}", cmd)))  # fmt: skip
    return records, commands


def _agree(old: ModuleType, records: list[bytes], commands: list[bytes]) -> dict[str, int]:
    """Both codecs read the same maps from every record, and write records that read as
    the same maps; counts the records each writes byte for byte like the other."""
    from schemas import codec

    same = {"event_records_same_bytes": 0, "commands_same_bytes": 0}
    for raw in records:
        new_envs, old_envs = codec.decode_events(raw), old.decode_events(raw)
        assert [codec.event_to_plain(e) for e in new_envs] == \
            [old.event_to_plain(e) for e in old_envs]  # fmt: skip
        new_out, old_out = codec.encode_event_records(new_envs), old.encode_event_records(old_envs)
        assert [msgpack.unpackb(r) for r in new_out] == [msgpack.unpackb(r) for r in old_out]
        same["event_records_same_bytes"] += new_out == old_out
    for raw in commands:
        new_env, old_env = codec.decode_command(raw), old.decode_command(raw)
        assert codec.command_to_plain(new_env) == old.command_to_plain(old_env)
        new_out, old_out = codec.encode_command(new_env), old.encode_command(old_env)
        assert msgpack.unpackb(new_out) == msgpack.unpackb(old_out)
        same["commands_same_bytes"] += new_out == old_out
    return same


def _time(fn: Callable[[Any], Any], items: list[Any]) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    for item in items:
        fn(item)
    return time.perf_counter() - started, time.process_time() - cpu


def run(events: int = 100_000, repeat: int = 3) -> dict[str, Any]:
    from schemas import codec

    old = old_codec()
    records, commands = corpus(events)
    same = _agree(old, records, commands)
    # The GC as piecework's processes run it (runtime/gc_tuning), with the corpus's
    # makings collected first: left to the defaults, full collections over whatever the
    # log's simulation left behind slowed whichever path ran into them.
    gc.collect()
    gc_tuning.tune()
    n_events = sum(len(msgpack.unpackb(r)) for r in records)  # the independent reader
    n_commands = len(commands)
    for raw in commands:
        msgpack.unpackb(raw)
    # What each side encodes: the envelopes its own decoder built (one list per record).
    new_decoded = ([codec.decode_events(r) for r in records],
                   [codec.decode_command(r) for r in commands])  # fmt: skip
    old_decoded = ([old.decode_events(r) for r in records],
                   [old.decode_command(r) for r in commands])  # fmt: skip
    paths: dict[str, dict[str, tuple[Callable[[Any], Any], list[Any]]]] = {
        "old": {"decode_events": (old.decode_events, records),
                "decode_commands": (old.decode_command, commands),
                "encode_events": (old.encode_event_records, old_decoded[0]),
                "encode_commands": (old.encode_command, old_decoded[1])},
        "new": {"decode_events": (codec.decode_events, records),
                "decode_commands": (codec.decode_command, commands),
                "encode_events": (codec.encode_event_records, new_decoded[0]),
                "encode_commands": (codec.encode_command, new_decoded[1])},
        "msgpack.unpackb only": {"decode_events": (msgpack.unpackb, records),
                                 "decode_commands": (msgpack.unpackb, commands)},
    }  # fmt: skip
    counts = {"decode_events": n_events, "decode_commands": n_commands,
              "encode_events": n_events, "encode_commands": n_commands}  # fmt: skip
    figures: dict[str, dict[str, list[float]]] = {
        name: {f"{op}{unit}": [] for op in ops for unit in ("_s", "_cpu_s")}
        for name, ops in paths.items()
    }
    for r in range(repeat):
        order = list(paths) if r % 2 == 0 else list(reversed(paths))
        for name in order:
            for op, (fn, items) in paths[name].items():
                wall, cpu = _time(fn, items)
                figures[name][f"{op}_s"].append(counts[op] / wall)
                figures[name][f"{op}_cpu_s"].append(counts[op] / max(cpu, 1e-9))
    med = {n: {k: statistics.median(v) for k, v in f.items()} for n, f in figures.items()}
    ratios = {n: {k: m[k] / med["old"][k] for k in m} for n, m in med.items()}
    for name in paths:
        console.print(f"  {name}: " + ", ".join(
            f"{op} {med[name][f'{op}_s']:,.0f}/s (x{ratios[name][f'{op}_s']:.2f})"
            for op in paths[name]))  # fmt: skip
    return {"events": n_events, "event_records": len(records), "commands": n_commands,
            "repeat": repeat, "baseline": BASELINE, "median": med, "ratio_to_old": ratios,
            "goal_ratio": GOAL_RATIO, **same, "runs": figures}  # fmt: skip


def for_run(quick: bool) -> dict[str, Any]:
    """bench/run.py's entry: smaller and once in quick mode."""
    return run(events=10_000 if quick else 100_000, repeat=1 if quick else 3)


_OPS = (
    ("decode_events", "events decoded/s"),
    ("decode_commands", "commands decoded/s"),
    ("encode_events", "events encoded/s"),
    ("encode_commands", "commands encoded/s"),
)


def section(r: dict[str, Any]) -> str:
    lines = [
        f"## Codec: decode + validate and encode, the dataclass codec ({r['baseline']}) beside "
        f"the msgspec Structs ({r['events']:,} events in {r['event_records']:,} records, "
        f"{r['commands']:,} commands; median of {r['repeat']})",
        "",
        "| path | " + " | ".join(f"{label} | x old" for _, label in _OPS) + " |",
        "|---|" + "---|---|" * len(_OPS),
    ]
    for name, m in r["median"].items():
        x = r["ratio_to_old"][name]
        cells = [f"{m[f'{op}_s']:,.0f} | {x[f'{op}_s']:.2f}" if f"{op}_s" in m else "- | -"
                 for op, _ in _OPS]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"Records written byte for byte as the old codec wrote them: "
              f"{r['event_records_same_bytes']:,} of {r['event_records']:,} events records, "
              f"{r['commands_same_bytes']:,} of {r['commands']:,} commands (the others: the "
              "same maps, keys in declaration order)."]  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    found = run(args.events, args.repeat)
    print(json.dumps({k: v for k, v in found.items() if k != "runs"}, indent=1))
    print(section(found))
