"""Shared fixtures. Integration tests use a real broker and a real PostgreSQL.

Which ones: the machine's Mosquitto and PostgreSQL by default (HALL_TEST_MQTT_URL,
HALL_TEST_DATABASE_URL), or the embedded amqtt broker and pgserver when HALL_TEST_EMBEDDED=1.
A service that cannot be reached fails the test; nothing is skipped for it.
"""

import os

# Devices in the tests register by publishing a birth, as they did before provisioning: every
# ``hall`` process a test starts inherits this (production's default is off). A test of the
# identity checks turns it off for its own controller.
os.environ.setdefault("HALL_DEVICES_AUTO_REGISTER", "true")

pytest_plugins = ["tests.support.mqtt_fixtures", "tests.support.db_fixtures"]
