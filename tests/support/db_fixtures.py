"""Database fixtures (owned by the storage work)."""
