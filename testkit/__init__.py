"""What the tests and the benchmarks share: the kit, never shipped and never imported by
piecework itself.

- `testkit.stack_processes`: run the roles as real subprocesses against a stack of their
  own (topics, Redis DB, port), probe it end to end, and the tests' patience;
- `testkit.views_kit`: a Redis DB of one's own, views processes, a log produced raw, and
  "caught up" judged by the views' stored positions;
- `testkit.replay_log`: a realistic event log decided by the real domain, and its records.

Arrows: `tests` and `bench` import `testkit` (and anything of piecework); `testkit`
imports piecework (`deploy` and below) and never `tests` or `bench`; `tests` and `bench`
never import each other. Enforced by the import contracts in pyproject.toml
(`make lint`, see docs/DESIGN.md#layout).
"""
