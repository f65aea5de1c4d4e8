"""Audit and replay: export and import the event log, replay it, check the invariants.

The replay folds the log with the very code the live system runs (`Shard.apply` for the
write side, `consumers.engine.runner.fold_log` for the views), so a difference found here is a
difference in the data, never in a second implementation of the rules.
"""
