"""Alarm notification: who hears of an alarm, on which channel, when it escalates, and what is
held back (maintenance windows, flapping, the digest of minor alarms)."""
