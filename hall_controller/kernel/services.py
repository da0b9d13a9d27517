"""The services of a running hall, found by their type.

The composition root (``hall.assembly``) creates one ``Services`` per process; every feature it
installs registers the services it offers, and the HTTP API finds them here by type. A feature
that is off registers nothing, so nothing of it can be reached.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

T = TypeVar("T")


class MissingService(LookupError):
    """Asked for a service no installed feature offers."""


class Services:
    """One instance per service type."""

    def __init__(self) -> None:
        self._by_type: dict[type[Any], object] = {}

    def add(self, service: object, *, as_type: type[Any] | None = None) -> None:
        """Register ``service`` under its own class, or under ``as_type`` (a port or base
        class) when callers ask for that."""
        kind = as_type or type(service)
        if kind in self._by_type:
            raise ValueError(f"a {kind.__name__} is registered already")
        self._by_type[kind] = service

    def get(self, kind: type[T]) -> T:
        try:
            return cast(T, self._by_type[kind])
        except KeyError:
            raise MissingService(f"no {kind.__name__}: the feature offering it is not "
                                 "installed") from None

    def find(self, kind: type[T]) -> T | None:
        """The service, or None when its feature is not installed (for optional links
        between features, such as the clerk's view of a ticket's online case)."""
        return cast(T | None, self._by_type.get(kind))

    def __contains__(self, kind: type[Any]) -> bool:
        return kind in self._by_type
