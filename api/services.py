"""How a route gets a service: ``Depends(provide(Kind))``, from the hall's ``Services``.

``create_app`` keeps the ``Services`` the composition root built on ``app.state.services``.
Each route module names the services it uses::

    Tickets = Annotated[TicketService, Depends(provide(TicketService))]

    @router.post("/tickets")
    async def take(tickets: Tickets, ...) -> ...: ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import Request

from hall_controller.kernel.services import Services

T = TypeVar("T")


def hall_services(request: Request) -> Services:
    services = getattr(request.app.state, "services", None)
    if not isinstance(services, Services):
        raise RuntimeError("the app was not built by api.create_app (no services)")
    return services


def provide(kind: type[T]) -> Callable[[Request], T]:
    """A dependency giving the registered ``kind``; raises MissingService when its feature
    is not installed (``create_app`` mounts a feature's routes only when it is)."""

    def dependency(request: Request) -> T:
        return hall_services(request).get(kind)

    dependency.__name__ = f"provide_{kind.__name__}"
    return dependency


def provide_optional(kind: type[T]) -> Callable[[Request], T | None]:
    """A dependency giving the registered ``kind``, or None when its feature is not
    installed (for optional links between features)."""

    def dependency(request: Request) -> T | None:
        return hall_services(request).find(kind)

    dependency.__name__ = f"find_{kind.__name__}"
    return dependency
