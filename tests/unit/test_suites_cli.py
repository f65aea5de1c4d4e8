"""`piecework claim`, `submit-many`, `release-many`: argument and file checks (no API)."""

from __future__ import annotations

import argparse

import pytest

from deploy.cli import build_parser
from deploy.cli.suites import read_answers


def test_claim_count_is_bounded_like_the_api() -> None:
    parser = build_parser()
    assert parser.parse_args(["claim", "--count", "50", "--group", "g1"]).count == 50
    for bad in ("0", "51", "abc"):
        with pytest.raises(SystemExit):
            parser.parse_args(["claim", "--count", bad])


def test_submit_many_file_is_json_lines_of_claim_and_answer(tmp_path) -> None:
    good = tmp_path / "a.jsonl"
    good.write_text('{"claim_id": "r:b:0:c1", "answer": {"x": 1}}\n\n'
                    '{"claim_id": "r:b:1:c1", "answer": 0, "extra": 1}\n')
    assert read_answers(good) == [{"claim_id": "r:b:0:c1", "answer": {"x": 1}},
                                  {"claim_id": "r:b:1:c1", "answer": 0}]
    for text, line in (('{"claim_id": "x"}\n', 1), ('{"claim_id": "x", "answer": 1}\nnope', 2),
                       ('[1]', 1)):
        bad = tmp_path / "b.jsonl"
        bad.write_text(text)
        with pytest.raises(ValueError, match=f"line {line}"):
            read_answers(bad)


def test_release_many_takes_ids() -> None:
    args = build_parser().parse_args(["release-many", "r:b:0:c1", "r:b:1:c1"])
    assert isinstance(args, argparse.Namespace) and args.claim_ids == ["r:b:0:c1", "r:b:1:c1"]
