"""`piecework simulate`: a seeded micro-work marketplace driven only through the public API.

model.py draws the population and its behaviour, plan.py turns it into a posting
timeline, driver.py plays it against a running broker, summary.py counts what happened.
Informed workers choose task groups by scorecard (group_choice.py, informed.py); split.py,
wages.py and compare.py set them against the others.
Distributions and their sources: docs/SIMULATION.md.
"""
