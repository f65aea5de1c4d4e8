"""Grafana provisioning: dashboards generated as code (build.py), data sources."""
