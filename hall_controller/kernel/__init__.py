"""What every room shares: errors, the bus, PostgreSQL connections, named SQL, migrations."""
