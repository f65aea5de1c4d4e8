"""Rendering of the power report: a terminal table, and an HTML page with plots.

The figures come from consumers.power.figures; nothing here computes a metric.
"""
