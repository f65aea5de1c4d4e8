"""Log-linear histogram buckets for durations: percentiles without keeping every sample.

Four buckets per doubling (1, 1.25, 1.5, 1.75 x 2**n ms), so a percentile read from the
bucket bounds is off by at most 25 %. Integer arithmetic only: every replay, on any
machine, puts a sample in the same bucket, which the view digests rely on.
"""

from __future__ import annotations

SUB_BUCKETS = 4


def bucket(ms: int) -> int:
    """Index of the bucket holding a duration in ms (anything below 1 ms counts as 1 ms)."""
    ms = max(ms, 1)
    octave = ms.bit_length() - 1
    shift = octave - 2
    top = ms >> shift if shift >= 0 else ms << -shift  # the leading 3 bits: 4..7
    return octave * SUB_BUCKETS + top - SUB_BUCKETS


def bucket_bounds(index: int) -> tuple[float, float]:
    """[low, high) in ms of a bucket."""
    octave, sub = divmod(index, SUB_BUCKETS)
    return (SUB_BUCKETS + sub) * 2**octave / 4, (SUB_BUCKETS + sub + 1) * 2**octave / 4
