"""The device fleet: registry and presence, telemetry, events, commands, alarms, dead letters,
device requests, health.
"""
