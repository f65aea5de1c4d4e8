"""`piecework simulate`: a seeded micro-work marketplace driven only through the public API.

model.py draws the population and its behaviour, plan.py turns it into a posting
timeline, driver.py plays it against a running broker, summary.py counts what happened.
Distributions and their sources: docs/SIMULATION.md.
"""
