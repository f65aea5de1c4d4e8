"""A dead letter keeps the original bytes, or a prefix and a fingerprint when they are huge."""

import hashlib

from runtime.deadletter import MAX_COPY_BYTES, PREFIX_BYTES, DeadLetter, dead_letter


def letter_for(value: bytes) -> DeadLetter:
    return dead_letter("undecodable", "garbage", "p.events", 3, 42, b"k", value, "views-0", 7)


def test_a_small_record_is_copied_whole_and_round_trips() -> None:
    letter = letter_for(b"\xc1garbage")
    assert DeadLetter.decode(letter.encode()) == letter
    assert letter.value == b"\xc1garbage" and not letter.truncated
    assert letter.value_sha256 == hashlib.sha256(b"\xc1garbage").hexdigest()


def test_a_record_near_the_size_limit_keeps_a_prefix_size_and_fingerprint() -> None:
    huge = bytes(range(256)) * (MAX_COPY_BYTES // 256 + 10)
    letter = letter_for(huge)
    encoded = letter.encode()
    assert len(encoded) < 2 * PREFIX_BYTES  # always far below Kafka's 1 MiB record limit
    back = DeadLetter.decode(encoded)
    assert back.truncated and back.value == huge[:PREFIX_BYTES]
    assert back.value_size == len(huge) and back.value_sha256 == hashlib.sha256(huge).hexdigest()
    assert (back.topic, back.partition, back.offset) == ("p.events", 3, 42)
