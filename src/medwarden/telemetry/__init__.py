"""Closed-loop device telemetry: signed records, the tamper-evident ledger and checks."""
