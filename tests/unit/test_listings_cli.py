"""`piecework batches`, `batch`, `results`: user mistakes are one line on stderr, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.cli import main

DEAD = ["--url", "http://127.0.0.1:9", "--token", "t"]  # nothing listens on the discard port


@pytest.mark.parametrize("argv", [["batches"], ["batch", "b1"], ["results", "b1", "--csv"],
                                  ["groups"], ["scorecard", "acme"], ["statement", "--csv"]])
def test_an_unreachable_api_is_one_line(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    assert main([*argv, *DEAD]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"piecework {argv[0]}: ")
    assert "Traceback" not in err[0]


def test_an_unwritable_output_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "missing" / "r.csv"
    assert main(["results", "b1", "-o", str(out), *DEAD]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out) in err[0]
