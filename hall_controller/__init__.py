"""The asyncio hall controller: domain rules, services over ports, adapters (MQTT, PostgreSQL)."""
