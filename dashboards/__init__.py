"""Dashboards for policymakers: coverage, risk-limit exceedance, monitoring change, data volume and
element baselines, computed from the rows the gate (``sharing.access``) gives a viewer."""
