"""Pure domain: records and rules. Imports no I/O library."""
