"""Alarm rules staff edit: telemetry thresholds, rates, silences, values and event counts,
and the tuning of the alarms shipped in code (docs/alarms.md)."""
