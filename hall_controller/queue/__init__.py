"""The queue: tickets, calling at windows, moves, remote tickets, wait estimate, statistics."""
