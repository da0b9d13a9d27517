"""The edge agent's exceptions; library errors are translated into these at the boundary."""

from __future__ import annotations


class EdgeError(Exception):
    """Base of every error the edge agent raises on purpose."""


class CommandRefused(EdgeError):
    """Raised by a driver to refuse a command; the agent acks it with ``ok: false``.

    ``code`` is machine-readable (``invalid_params``, ``busy``, ...), ``message`` is for people.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class UnknownMethod(CommandRefused):
    """The driver does not implement this command method (acked with code ``unknown_method``)."""

    def __init__(self, method: str) -> None:
        super().__init__("unknown_method", f"this device does not handle {method!r}")
        self.method = method


class RequestTimeout(EdgeError, TimeoutError):
    """No response arrived on ``res`` in time for a request."""


class OutboxError(EdgeError):
    """The outbox file cannot be used (locked by another agent, corrupt, disk full)."""
