"""docs/EVENTS.md documents every event, command and refusal code, field by field.

Format: a `## Events` / `## Commands` / `## Envelopes` section holds one `### TypeName`
heading per type, followed by a table whose first two columns are `field` and `type`.
"""

import re
from pathlib import Path

import pytest

from broker.domain.errors import CODES
from schemas import envelope
from schemas.catalogue import COMMANDS, EVENTS
from schemas.fields import fields_of

DOC = Path(__file__).resolve().parents[2] / "docs" / "EVENTS.md"
CELL = re.compile(r"(?<!\\)\|")


def _cells(line: str) -> list[str]:
    return [c.strip().replace("\\|", "|").strip("`") for c in CELL.split(line.strip())[1:-1]]


def parse(text: str) -> dict[str, dict[str, list[list[str]]]]:
    """{section: {heading: [row cells]}}; rows of the `## Refusal codes` table too."""
    sections: dict[str, dict[str, list[list[str]]]] = {}
    section = heading = ""
    for line in text.splitlines():
        if line.startswith("## "):
            section, heading = line[3:].strip(), ""
            sections[section] = {"": []}
        elif line.startswith("### "):
            heading = line[4:].strip()
            sections[section][heading] = []
        elif line.startswith("|") and section and not set(line) <= set("|- "):
            sections[section][heading].append(_cells(line))
    return {s: {h: rows[1:] for h, rows in hs.items() if rows or h} for s, hs in sections.items()}


DOCS = parse(DOC.read_text(encoding="utf-8"))


def documented(section: str, name: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in DOCS[section][name]]


def declared(cls: type) -> list[tuple[str, str]]:
    # the schemas use `from __future__ import annotations`: types are their source text
    return [(f.name, cls.__annotations__[f.name]) for f in fields_of(cls)]


def test_every_event_and_command_is_documented_and_nothing_else():
    assert set(DOCS["Events"]) - {""} == set(EVENTS.by_name)
    assert set(DOCS["Commands"]) - {""} == set(COMMANDS.by_name)


@pytest.mark.parametrize("name", sorted(EVENTS.by_name))
def test_event_fields_match(name):
    assert documented("Events", name) == declared(EVENTS.by_name[name])


@pytest.mark.parametrize("name", sorted(COMMANDS.by_name))
def test_command_fields_match(name):
    assert documented("Commands", name) == declared(COMMANDS.by_name[name])


@pytest.mark.parametrize("cls", [envelope.EventEnvelope, envelope.CommandEnvelope])
def test_envelope_fields_match(cls):
    assert documented("Envelopes", cls.__name__) == declared(cls)


def test_refusal_codes_match_the_domain():
    rows = {row[0]: (int(row[1]), row[2]) for row in DOCS["Refusal codes"][""]}
    assert rows == CODES


def test_the_parser_sees_a_changed_field():
    broken = DOC.read_text(encoding="utf-8").replace(
        "| `amount` | `int` | micro-units | positive; added", "| `amount` | `str` | | x"
    )
    assert parse(broken)["Events"]["FundsDeposited"][1][:2] == ["amount", "str"]
