"""The PostgreSQL adapter: ``PostgresStore`` (every store port), migrations, embedded server.

Raw telemetry is a TimescaleDB hypertable when the extension is available and a natively
day-partitioned table otherwise; see ``migrations/0002_telemetry.sql``.
"""

from hall_controller.adapters.postgres.embedded import embedded_postgres
from hall_controller.adapters.postgres.migrate import MigrationError, apply_migrations
from hall_controller.adapters.postgres.store import MaintenanceReport, PostgresStore

__all__ = [
    "MaintenanceReport",
    "MigrationError",
    "PostgresStore",
    "apply_migrations",
    "embedded_postgres",
]
