"""The sign-on room's named SQL, from the ``.sql`` files in ``sql/``."""

from hall_controller.kernel.postgres.queries import load_queries

QUERIES = load_queries(__package__ or __name__.rpartition(".")[0])
