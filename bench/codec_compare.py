"""Decode + validate of real records: today's codec beside msgspec, in one run (issue 14).

The records: every events record of a realistic log decided by the real domain
(testkit/replay_log: all the event types a market produces), every command that log's
simulation sent, and 500-task PostTasks commands as the API sends them. Each path turns
the same bytes into the same envelopes (checked equal before timing):

- codec: schemas.codec (msgpack.unpackb, then the compiled field decoders of
  schemas/fields.py);
- candidate: bench/msgspec_codec.py, the codec with msgspec in front (the "msgspec ->
  Struct -> dataclass" path below made exact: free-form values left to msgpack, the
  codec's own path for anything off, so its errors and upcasters hold);
- msgspec -> dataclass: msgspec decodes the envelope, then the body straight into the
  existing event/command dataclasses (msgspec validates their annotated types and runs
  their __post_init__). Unknown body fields are IGNORED on this path (msgspec has no
  forbid_unknown_fields for dataclasses), which the codec refuses: an upper bound;
- msgspec -> Struct -> dataclass: a msgspec Struct generated from each dataclass
  (forbid_unknown_fields, so the codec's refusals hold), then the dataclass built from it:
  the path an adoption without changing the class definitions would take;
- msgpack.unpackb alone: the floor of the codec's own path.

Each path is timed `--repeat` times (alternating), the median of events (or commands)
per second and per CPU second printed with its ratio to the codec. The codec must also
still be readable by the plain `msgpack` package: every record is unpacked by it first.

    .venv/bin/python -m bench.codec_compare [--events 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import json
import statistics
import time
import typing
from collections.abc import Callable
from typing import Any

import msgpack

from bench.common import console, task_spec
from runtime import gc_tuning

GOAL_RATIO = 3.0


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


def _struct_of(cls: type, made: dict[type, Any]) -> Any:
    """A msgspec Struct with the dataclass's fields and types (nested dataclasses too)."""
    import msgspec

    if cls in made:
        return made[cls]
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        kind = _swap(hints[f.name], made)
        if f.default is not dataclasses.MISSING:
            fields.append((f.name, kind, f.default))
        elif f.default_factory is not dataclasses.MISSING:
            fields.append((f.name, kind, msgspec.field(default_factory=f.default_factory)))
        else:
            fields.append((f.name, kind))
    made[cls] = msgspec.defstruct(f"S{cls.__name__}", fields, forbid_unknown_fields=True)
    return made[cls]


def _swap(annotation: Any, made: dict[type, Any]) -> Any:
    if dataclasses.is_dataclass(annotation):
        return _struct_of(annotation, made)
    args = typing.get_args(annotation)
    if args and any(dataclasses.is_dataclass(a) for a in args):
        origin = typing.get_origin(annotation)
        return origin[tuple(_swap(a, made) for a in args)] if origin is not tuple else \
            tuple[_swap(args[0], made), ...]  # fmt: skip
    return annotation


@functools.cache
def _plan(cls: type) -> tuple[tuple[str, Any, bool], ...]:
    """(field, nested dataclass or None, is a tuple of it) per field, once per class."""
    hints, plan = typing.get_type_hints(cls), []
    for f in dataclasses.fields(cls):
        kind, args = hints[f.name], typing.get_args(hints[f.name])
        if dataclasses.is_dataclass(kind):
            plan.append((f.name, kind, False))
        elif typing.get_origin(kind) is tuple and args and dataclasses.is_dataclass(args[0]):
            plan.append((f.name, args[0], True))
        else:
            plan.append((f.name, None, False))
    return tuple(plan)


def _to_dataclass(value: Any, cls: type) -> Any:
    kw = {}
    for name, nested, many in _plan(cls):
        v = getattr(value, name)
        if nested is not None:
            v = tuple(_to_dataclass(x, nested) for x in v) if many else _to_dataclass(v, nested)
        kw[name] = v
    return cls(**kw)


def msgspec_paths() -> dict[str, tuple[Callable[[bytes], Any], Callable[[bytes], Any]]]:
    """name -> (decode an events record, decode a command record), both to envelopes."""
    import msgspec

    from schemas.catalogue import COMMANDS, EVENTS
    from schemas.envelope import CommandEnvelope, EventEnvelope

    # Built with defstruct: this module's postponed annotations would not resolve here.
    ev_fields = [(n, str) for n in ("t", "id", "agg")] + [("v", int), ("seq", int), ("at", int)]
    ev_fields += [(n, str) for n in ("cmd", "corr", "cause", "actor")] + [("d", msgspec.Raw)]
    Ev = msgspec.defstruct("Ev", ev_fields)
    Cmd = msgspec.defstruct("Cmd", [*((n, str) for n in ("t", "id", "actor", "role", "corr",
                                                          "cause")),
                                    ("v", int), ("d", msgspec.Raw), ("fp", str, "")])  # fmt: skip
    events_dec = msgspec.msgpack.Decoder(list[Ev])
    cmd_dec = msgspec.msgpack.Decoder(Cmd)
    made: dict[type, Any] = {}
    direct = {
        **{n: msgspec.msgpack.Decoder(c) for n, c in EVENTS.by_name.items()},
        **{("c", n): msgspec.msgpack.Decoder(c) for n, c in COMMANDS.by_name.items()},
    }
    structs = {**{n: (msgspec.msgpack.Decoder(_struct_of(c, made)), c)
                  for n, c in EVENTS.by_name.items()},
               **{("c", n): (msgspec.msgpack.Decoder(_struct_of(c, made)), c)
                  for n, c in COMMANDS.by_name.items()}}  # fmt: skip

    def envs(raw: bytes, body: Callable[[Any, Any], Any]) -> list[EventEnvelope]:
        return [EventEnvelope(e.id, e.agg, e.seq, e.at, e.cmd, e.corr, e.cause, e.actor,
                              body(e.t, e.d)) for e in events_dec.decode(raw)]  # fmt: skip

    def cmd(raw: bytes, body: Callable[[Any, Any], Any]) -> CommandEnvelope:
        c = cmd_dec.decode(raw)
        return CommandEnvelope(c.id, c.actor, c.role, c.corr, body(("c", c.t), c.d), c.cause,
                               c.fp)  # fmt: skip

    def direct_body(name: Any, raw: Any) -> Any:
        return direct[name].decode(raw)

    def struct_body(name: Any, raw: Any) -> Any:
        dec, cls = structs[name]
        return _to_dataclass(dec.decode(raw), cls)

    def struct_only(name: Any, raw: Any) -> Any:
        return structs[name][0].decode(raw)

    return {"msgspec -> Struct only (class definitions replaced)": (
                lambda r: envs(r, struct_only), lambda r: cmd(r, struct_only)),
            "msgspec -> dataclass": (lambda r: envs(r, direct_body), lambda r: cmd(r, direct_body)),
            "msgspec -> Struct -> dataclass": (lambda r: envs(r, struct_body),
                                               lambda r: cmd(r, struct_body))}  # fmt: skip


def _time(fn: Callable[[bytes], Any], raws: list[bytes]) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    for raw in raws:
        fn(raw)
    return time.perf_counter() - started, time.process_time() - cpu


def run(events: int = 100_000, repeat: int = 3) -> dict[str, Any]:
    from bench import msgspec_codec
    from schemas.codec import decode_command, decode_events

    records, commands = corpus(events)
    # The GC as piecework's processes run it (runtime/gc_tuning), with the corpus's
    # makings collected first: left to the defaults, full collections over whatever the
    # log's simulation left behind made the codec's own path (the one allocating dicts)
    # 1.5-3x slower in some runs and not others.
    gc.collect()
    gc_tuning.tune()
    n_events = sum(len(msgpack.unpackb(r)) for r in records)  # the independent reader
    n_commands = len(commands)
    for raw in commands:
        msgpack.unpackb(raw)
    paths: dict[str, tuple[Callable[[bytes], Any], Callable[[bytes], Any]]] = {
        "codec (schemas.codec)": (decode_events, decode_command),
        "msgpack.unpackb only": (msgpack.unpackb, msgpack.unpackb),
        "candidate: msgspec in front of the codec": (msgspec_codec.decode_events,
                                                     msgspec_codec.decode_command),
        **msgspec_paths(),
    }
    for name, (ev, cm) in paths.items():  # every path builds the same envelopes
        if "unpackb" in name or "only" in name:  # other types: not comparable
            continue
        assert all(ev(r) == decode_events(r) for r in records), name
        assert all(cm(r) == decode_command(r) for r in commands), name
    figures: dict[str, dict[str, list[float]]] = {n: {"events_s": [], "events_cpu_s": [],
                                                      "commands_s": [], "commands_cpu_s": []}
                                                  for n in paths}  # fmt: skip
    for r in range(repeat):
        order = list(paths) if r % 2 == 0 else list(reversed(paths))
        for name in order:
            ev, cm = paths[name]
            wall, cpu = _time(ev, records)
            figures[name]["events_s"].append(n_events / wall)
            figures[name]["events_cpu_s"].append(n_events / cpu)
            wall, cpu = _time(cm, commands)
            figures[name]["commands_s"].append(n_commands / wall)
            figures[name]["commands_cpu_s"].append(n_commands / cpu)
    med = {n: {k: statistics.median(v) for k, v in f.items()} for n, f in figures.items()}
    base = med["codec (schemas.codec)"]
    ratios = {n: {k: m[k] / base[k] for k in m} for n, m in med.items()}
    for name in paths:
        console.print(f"  {name}: {med[name]['events_s']:,.0f} events/s "
                      f"(x{ratios[name]['events_s']:.2f}), {med[name]['commands_s']:,.0f} "
                      f"commands/s (x{ratios[name]['commands_s']:.2f})")  # fmt: skip
    return {"events": n_events, "event_records": len(records), "commands": n_commands,
            "repeat": repeat, "median": med, "ratio_to_codec": ratios,
            "goal_ratio": GOAL_RATIO, "runs": figures}  # fmt: skip


def for_run(quick: bool) -> dict[str, Any]:
    """bench/run.py's entry: smaller and once in quick mode."""
    return run(events=10_000 if quick else 100_000, repeat=1 if quick else 3)


def section(r: dict[str, Any]) -> str:
    lines = [
        f"## Codec: decode + validate, schemas.codec beside msgspec ({r['events']:,} "
        f"events in {r['event_records']:,} records, {r['commands']:,} commands; median "
        f"of {r['repeat']})",
        "",
        "| path | events/s | x codec | commands/s | x codec |",
        "|---|---|---|---|---|",
    ]
    for name, m in r["median"].items():
        x = r["ratio_to_codec"][name]
        lines.append(
            f"| {name} | {m['events_s']:,.0f} | {x['events_s']:.2f} | "
            f"{m['commands_s']:,.0f} | {x['commands_s']:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    found = run(args.events, args.repeat)
    print(json.dumps({k: v for k, v in found.items() if k != "runs"}, indent=1))
    print(section(found))
