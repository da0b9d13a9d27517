"""Use cases over the ports: ingest, registry and presence, alarms, commands, requests, health."""
