"""Shared fixtures. Integration tests use a real broker and a real PostgreSQL.

Which ones: the machine's Mosquitto and PostgreSQL by default (HALL_TEST_MQTT_URL,
HALL_TEST_DATABASE_URL), or the embedded amqtt broker and pgserver when HALL_TEST_EMBEDDED=1.
A service that cannot be reached fails the test; nothing is skipped for it.
"""

pytest_plugins = ["tests.support.mqtt_fixtures", "tests.support.db_fixtures"]
