"""`piecework verify | checkpoint | keygen`: a log nobody can quietly rewrite (docs/AUDIT.md).

`verify FILE` checks an export's hash chains on its own, and with `--checkpoint C
--public-key K` that it reproduces a checkpoint the operator signed and published.
`checkpoint` prints the latest signed checkpoint (or takes one now); `keygen` makes the
operator's Ed25519 key pair.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kafka.errors import KafkaError
from rich.console import Console

from runtime.settings import Settings
from schemas.errors import SchemaError
from schemas.topics import Topics

err = Console(stderr=True)
EXIT_TAMPERED, EXIT_SETUP = 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "verify", help="check an export's hash chains (and a signed checkpoint): names the "
        "first record edited, removed, inserted or reordered; exit 1 if any")  # fmt: skip
    p.add_argument("file", help="an export (`piecework export`, pseudonymised or not)")
    p.add_argument("--checkpoint", metavar="FILE",
                   help="a published checkpoint (`piecework checkpoint`) the export must "
                        "reproduce: catches a truncated or rewritten log")  # fmt: skip
    p.add_argument("--public-key", metavar="FILE", help="the operator's public key (PEM)")
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    p.set_defaults(func=_guarded(cmd_verify))

    p = subparsers.add_parser(
        "checkpoint", help="print the latest signed checkpoint of the log, to publish")
    p.add_argument("--kafka", help="bootstrap servers (default: PIECEWORK_KAFKA)")
    p.add_argument("--prefix", help="topic prefix (default: PIECEWORK_TOPIC_PREFIX)")
    p.add_argument("--now", action="store_true",
                   help="take, sign and append one now (needs the private key)")  # fmt: skip
    p.add_argument("--key", metavar="FILE",
                   help="private key for --now (default: PIECEWORK_CHECKPOINT_KEY)")  # fmt: skip
    p.add_argument("--public-key", metavar="FILE",
                   help="check the printed checkpoint's signature with this key")  # fmt: skip
    p.add_argument("--out", default="-", help="file to write, - for stdout (default)")
    p.set_defaults(func=_guarded(cmd_checkpoint))

    p = subparsers.add_parser("keygen", help="create the operator's Ed25519 checkpoint key pair")
    p.add_argument("--private", required=True, metavar="FILE",
                   help="where to write the private key (mode 0600; keep it off the platform)")
    p.add_argument("--public", required=True, metavar="FILE",
                   help="where to write the public key (publish it)")  # fmt: skip
    p.set_defaults(func=_guarded(cmd_keygen))


def _guarded(command):  # type: ignore[no-untyped-def]
    """A missing file, a bad key or checkpoint, an unreachable broker: one line, exit 2."""
    from runtime.signing import KeyFileError
    from schemas.checkpoint import BadCheckpoint

    def run(args: argparse.Namespace, settings: Settings) -> int:
        try:
            return command(args, settings)
        except BadCheckpoint as exc:
            err.print(f"[red]piecework {args.command}: checkpoint refused:[/] {exc}")
            return EXIT_TAMPERED
        except (OSError, RuntimeError, KafkaError, SchemaError, KeyFileError) as exc:
            err.print(f"[red]piecework {args.command}:[/] {exc}")
            return EXIT_SETUP

    return run


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    from audit.verify import verify_file
    from runtime.signing import load_public, verify_checkpoint
    from schemas.checkpoint import MAX_DOCUMENT_BYTES, BadCheckpoint, parse_document

    expect = totals = None
    if args.checkpoint or args.public_key:
        if not (args.checkpoint and args.public_key):
            err.print("[red]piecework verify:[/] --checkpoint and --public-key go together")
            return EXIT_SETUP
        path = Path(args.checkpoint)
        if path.stat().st_size > MAX_DOCUMENT_BYTES:
            raise BadCheckpoint(f"{path} is over {MAX_DOCUMENT_BYTES} bytes: not a checkpoint")
        signed = parse_document(path.read_bytes())
        verify_checkpoint(signed, load_public(args.public_key))  # raises: refused, exit 1
        expect, totals = signed.checkpoint.heads(), signed.checkpoint.totals
    verdict = verify_file(args.file, expect, totals)
    if args.json:
        print(json.dumps(verdict.to_json(), indent=2))
    else:
        print(verdict.line())
        for finding in verdict.findings[1:]:
            err.print(f"  also: {finding.verdict()}")
    return 0 if verdict.ok else EXIT_TAMPERED


def cmd_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses

    from consumers.queries.checkpoint_query import read_latest
    from consumers.timers.checkpoints import take_and_publish
    from runtime.signing import load_public, verify_checkpoint
    from schemas.checkpoint import parse_document

    settings = dataclasses.replace(settings, kafka=args.kafka or settings.kafka,
                                   topics=Topics(args.prefix) if args.prefix
                                   else settings.topics)  # fmt: skip
    if args.now:
        key = args.key or settings.checkpoint_key
        if not key:
            err.print("[red]piecework checkpoint:[/] --now needs --key or "
                      "PIECEWORK_CHECKPOINT_KEY")  # fmt: skip
            return EXIT_SETUP
        document = take_and_publish(settings, key).document()
    else:
        found = read_latest(settings.kafka, settings.topics)
        if found is None:
            err.print(f"no checkpoint on {settings.topics.checkpoints} yet (set "
                      "PIECEWORK_CHECKPOINT_KEY for the timer role, or run "
                      "`piecework checkpoint --now --key K`)")  # fmt: skip
            return EXIT_SETUP
        document = found
    signed = parse_document(document)
    if args.public_key:
        verify_checkpoint(signed, load_public(args.public_key))
        err.print(f"signature verified (key {signed.key_id})")
    if args.out == "-":
        sys.stdout.write(signed.document().decode())
    else:
        Path(args.out).write_bytes(signed.document())
        err.print(f"checkpoint written to {args.out}")
    return 0


def cmd_keygen(args: argparse.Namespace, settings: Settings) -> int:
    from runtime.signing import generate

    key_id = generate(args.private, args.public)
    err.print(f"key {key_id}: private key {args.private} (keep it secret), public key "
              f"{args.public} (publish it with your checkpoints)")  # fmt: skip
    return 0
