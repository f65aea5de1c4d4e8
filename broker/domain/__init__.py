"""The pure domain: aggregates as `decide(state, command) -> events` and `evolve(state, event)`.

No I/O, no clock, no bytes: money is integer micro-units, time is milliseconds passed in.
"""
