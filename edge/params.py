"""Checking a command's parameters on the device: a bad one refuses the command with
``invalid_params`` and says which parameter and what was expected. Shared by the simulated
devices and the hardware drivers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge.errors import CommandRefused


def number_param(params: Mapping[str, Any], name: str, low: float, high: float,
                 default: float | None = None) -> float:
    """A numeric command parameter within [low, high]; refuses the command otherwise."""
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise CommandRefused("invalid_params", f"{name} must be a number from {low:g} to {high:g}")
    return float(value)


def text_param(params: Mapping[str, Any], name: str, max_length: int = 256,
               default: str | None = None) -> str:
    """A string command parameter; refuses the command otherwise."""
    value = params.get(name, default)
    if not isinstance(value, str) or len(value) > max_length:
        raise CommandRefused("invalid_params", f"{name} must be a string of at most "
                                               f"{max_length} characters")
    return value


MAX_SERVICES = 32
MAX_NUMBERS = 20


def waiting_list_param(params: Mapping[str, Any]) -> dict[str, list[str]]:
    """``display.queue``'s ``services``: service code → the next ticket numbers."""
    services = params.get("services")
    # Bounded like a real panel's memory: a flood of services or numbers is refused.
    if not isinstance(services, list) or len(services) > MAX_SERVICES:
        raise CommandRefused("invalid_params",
                             f"services must be a list of at most {MAX_SERVICES} entries")
    waiting: dict[str, list[str]] = {}
    for entry in services:
        if not isinstance(entry, dict):
            raise CommandRefused("invalid_params", "each service must be an object")
        code = text_param(entry, "service", 64)
        numbers = entry.get("next", [])
        if (not isinstance(numbers, list) or len(numbers) > MAX_NUMBERS
                or not all(isinstance(n, str) and len(n) <= 16 for n in numbers)):
            raise CommandRefused("invalid_params",
                                 f"next must be a list of at most {MAX_NUMBERS} ticket numbers")
        waiting[code] = list(numbers)
    return waiting


def label_param(params: Mapping[str, Any], name: str) -> str:
    """A short label that controllers may send as a string or a number (window 3 or "3")."""
    value = params.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text_param(params, name, 16)
