"""Benchmarks of piecework: `python bench/run.py [--quick]` writes BENCHMARKS.md."""
