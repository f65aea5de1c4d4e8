"""The client's wait before trying again: the server's Retry-After, jittered, bounded."""

import pytest

from broker.client import MAX_WAIT_S, backoff


def test_retry_after_is_honoured_with_jitter():
    waits = [backoff(0, "2") for _ in range(200)]
    assert all(1.0 <= w <= 3.0 for w in waits)
    assert len({round(w, 3) for w in waits}) > 50  # jittered: clients do not come back together


@pytest.mark.parametrize("header", [None, "Wed, 21 Oct 2026 07:28:00 GMT", "soon"])
def test_without_a_usable_header_the_backoff_doubles(header):
    assert 0.1 <= backoff(0, header) <= 0.3
    assert 0.4 <= backoff(2, header) <= 1.2


def test_a_wait_is_bounded():
    assert backoff(0, "86400") <= MAX_WAIT_S * 1.5
    assert backoff(30, None) <= MAX_WAIT_S * 1.5
    assert backoff(0, "-5") == 0.0
