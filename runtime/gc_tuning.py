"""Garbage-collector thresholds for piecework's processes.

Every role holds a large, long-lived heap (the processor's aggregates, the audit's
replayed shards and views) and allocates many short-lived objects per event. With
CPython's default gen0 threshold (700 allocations) the collector runs thousands of
times per second and each older-generation pass walks the whole heap: a replay of 60k
events spends 15-50% of its CPU there (bench/replay.py, alternating runs: fold 18-21k ->
23-26k events/s, audit 11-12k -> 14-17k). A higher threshold keeps cyclic garbage
around for a few more allocations, which costs kilobytes.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 20)


def tune() -> None:
    gc.set_threshold(*THRESHOLDS)
