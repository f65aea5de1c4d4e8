"""docs/SETTINGS.md, generated from the fields of runtime.settings.Settings.

    .venv/bin/python -m runtime.settings_doc > docs/SETTINGS.md

tests/unit/test_settings.py fails when the committed page differs from `render()`, so
a setting cannot be added, renamed or re-defaulted without its row following.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from runtime.settings import Settings
from schemas.topics import Topics

COMMAND = ".venv/bin/python -m runtime.settings_doc > docs/SETTINGS.md"
HEADER = f"""# Settings

Every setting is an environment variable, read once when a process starts
(`runtime/settings.py`). A value piecework cannot use stops the process with one line
naming the variable, the value and what it must be (`piecework` exits with status 2):

    piecework: PIECEWORK_PARTITIONS must be an integer >= 1, got 'abc'

An empty value counts as unset. Every role of one deployment must see the same values
(`piecework serve` passes its environment to its children).

Generated from the code, and held in sync by a unit test: `{COMMAND}`.

| variable | default | accepts | meaning |
|---|---|---|---|
"""


def _shown(value: Any) -> str:
    if value is None or value == ():
        return "unset"
    if isinstance(value, Topics):
        value = value.prefix
    elif isinstance(value, float):
        value = f"{value:g}"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def rows() -> list[tuple[str, str, str, str]]:
    """(variable, default, accepts, meaning) for every setting, in the dataclass's order."""
    defaults = Settings()
    out = []
    for f in dataclasses.fields(Settings):
        meta = f.metadata
        shown = meta["shown"] or _shown(getattr(defaults, f.name))
        out.append((f"`{meta['env']}`", shown, meta["parse"].expects, meta["meaning"]))
    return out


def render() -> str:
    lines = [HEADER.rstrip("\n")]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows()]
    return "\n".join(lines) + "\n"


def page() -> Path:
    return Path(__file__).resolve().parent.parent / "docs" / "SETTINGS.md"


if __name__ == "__main__":
    sys.stdout.write(render())
