"""Fault injection for the e2e tests: kill and restart roles, private brokers, a load that
remembers what clients were told, and the verdict (nothing lost, nothing duplicated)."""
