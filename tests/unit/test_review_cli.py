"""`piecework review FILE`: the CSV it reads, and a one-line error for a malformed one."""

from __future__ import annotations

import pytest

from broker.client import review_items
from deploy.cli import main
from deploy.cli.review import read_csv


def write(tmp_path, text: str):
    path = tmp_path / "reviews.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_rows_become_review_items(tmp_path):
    path = write(tmp_path, "submission_id,decision,reason\n"
                           "acme:b:0:c1,approve,\n"
                           " acme:b:1:c1 ,Reject,\"blurry, sorry\"\n")  # fmt: skip
    assert read_csv(path) == [
        {"submission_id": "acme:b:0:c1", "decision": "approve", "reason": ""},
        {"submission_id": "acme:b:1:c1", "decision": "reject", "reason": "blurry, sorry"},
    ]


def test_the_reason_column_may_be_left_out(tmp_path):
    path = write(tmp_path, "submission_id,decision\nacme:b:0:c1,approve\n")
    assert read_csv(path)[0]["reason"] == ""


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("id,what\n1,2\n", "header"),
        ("submission_id,decision,reason\nacme:b:0:c1,maybe,\n", "row 1: decision"),
        ("submission_id,decision,reason\nacme:b:0:c1,approve,,extra\n", "too many cells"),
        ("submission_id,decision,reason\n,approve,\n", "row 1: needs"),
        ("", "header"),
    ],
)
def test_a_malformed_file_is_one_line_on_stderr(tmp_path, capsys, text, fragment):
    path = write(tmp_path, text)
    assert main(["review", str(path), "--url", "http://127.0.0.1:9", "--token", "t"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_missing_file_is_one_line_too(tmp_path, capsys):
    assert main(["review", str(tmp_path / "nope.csv"), "--token", "t"]) == 2
    assert "nope.csv" in capsys.readouterr().err


def test_review_items_rejects_a_row_without_a_decision():
    with pytest.raises(ValueError, match="row 2"):
        review_items([{"submission_id": "a:b:0:c1", "decision": "approve"},
                      {"submission_id": "a:b:1:c1"}])  # fmt: skip
