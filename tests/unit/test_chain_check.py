"""The chain check on hand-made sequences of records (audit.chain_check, schemas.chain)."""

from __future__ import annotations

import pytest

from audit.chain_check import ChainCheck
from runtime.signing import generate, load_public, sign, verify_checkpoint
from schemas.chain import Follower, Head, decode_header, digest, encode_header
from schemas.checkpoint import BadCheckpoint, Checkpoint, PartitionMark, parse_document

P = 3


def chained(values: list[bytes], legacy: int = 0) -> list[tuple[int, bytes, tuple | None]]:
    """(offset, digest, header) of records whose first `legacy` ones have no header."""
    head, out = Head(), []
    for i, value in enumerate(values):
        head = head.next(P, digest(value))
        out.append((i * 2, digest(value), None if i < legacy else (head.n, head.head)))
    return out


def run(records, expect=None):
    check = ChainCheck(expect)
    for offset, value_digest, header in records:
        check.feed(P, offset, value_digest, header)
    return check.findings(), check


VALUES = [f"record {i}".encode() for i in range(6)]


def test_a_log_that_starts_before_the_chain_links_its_old_records_implicitly() -> None:
    found, check = run(chained(VALUES, legacy=3))
    assert found == [] and check.heads()[P].n == 6
    old = chained(VALUES, legacy=3)
    old[1] = (old[1][0], digest(b"changed before the chain"), None)
    found, _ = run(old)  # the first chained record commits to the old ones
    assert [(b.kind, b.offset) for b in found] == [("edited", 6)]


def test_each_tampering_is_named_once_where_it_happens() -> None:
    good = chained(VALUES)
    edited = [*good[:2], (good[2][0], digest(b"x"), good[2][2]), *good[3:]]
    removed = [*good[:2], *good[3:]]
    swapped = [*good[:2], good[3], good[2], *good[4:]]
    foreign = [*good[:2], (good[1][0] + 1, digest(b"x"), None), *good[2:]]
    repeated = [*good[:3], (good[2][0] + 1, good[2][1], good[2][2]), *good[3:]]
    cases = {"edited": (edited, 4), "removed": (removed, 6), "reordered": (swapped, 6),
             "inserted": (foreign, 3)}  # fmt: skip
    for kind, (records, offset) in cases.items():
        found, _ = run(records)
        assert [(b.kind, b.offset) for b in found] == [(kind, offset)], kind
    found, _ = run(repeated)
    assert [(b.kind, b.offset) for b in found] == [("inserted", 5)]


def test_a_checkpoint_catches_truncation_and_a_recomputed_chain() -> None:
    good = chained(VALUES)
    mark = {P: Head(good[-1][2][0], good[-1][2][1])}
    assert run(good, mark)[0] == []
    assert [b.kind for b in run(good[:-1], mark)[0]] == ["truncated"]
    forged = chained([b"forged", *VALUES[1:]])  # every link recomputed
    assert run(forged)[0] == [] and [b.kind for b in run(forged, mark)[0]] == ["rewritten"]


def test_the_processor_and_the_checker_follow_the_same_links() -> None:
    follower = Follower(P)
    for value in VALUES[:2]:
        follower.observe(value, None)  # records from before the chain
    stamped = follower.head.next(P, digest(VALUES[2]))
    raw = encode_header(stamped.n, stamped.head)
    assert decode_header(raw) == (3, stamped.head) and decode_header(b"short") is None
    follower.observe(VALUES[2], raw)
    follower.observe(b"a foreign writer's record", None)  # after the chain: left out
    assert follower.head == stamped and follower.foreign == 1
    after = stamped.next(P, digest(VALUES[3]))
    records = [*chained(VALUES[:3], legacy=2), (5, digest(b"foreign"), None),
               (6, digest(VALUES[3]), (after.n, after.head))]  # fmt: skip
    found, check = run(records)
    assert [(b.kind, b.offset) for b in found] == [("inserted", 5)] and check.breaks == 1


def test_a_signed_checkpoint_verifies_and_an_altered_one_is_refused(tmp_path) -> None:
    generate(tmp_path / "k", tmp_path / "k.pub")
    from runtime.signing import load_private

    cp = Checkpoint("t.events", 1, {0: PartitionMark(2, "ab" * 32, 5)}, {"EUR": {"fees": 3}})
    signed = parse_document(sign(cp, load_private(tmp_path / "k")).document())
    verify_checkpoint(signed, load_public(tmp_path / "k.pub"))
    body = signed.document().replace(b'"fees": 3', b'"fees": 4')
    with pytest.raises(BadCheckpoint):
        verify_checkpoint(parse_document(body), load_public(tmp_path / "k.pub"))
    with pytest.raises(BadCheckpoint):
        parse_document(b'{"checkpoint": {"version": 1}, "signature": ""}')
    with pytest.raises(Exception, match="exists"):
        generate(tmp_path / "k", tmp_path / "other.pub")  # never overwrites a key
