"""The power report for people: a terminal table, and an HTML page a researcher can cite.

The headline figures come from consumers.power.figures. What only the page shows is
computed here, purely: history.py (the weekly series, unpaid time by cause, promised
against realised wages, from a replay of the log), funnel.py (the funnel plot's rows and
the outlier rule's limits), currency.py (who belongs in a currency's report); charts.py
turns them into the rows each chart draws and embeds.
"""
