"""What the routes reach through ``Depends``: the ports the app was built over."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from hall_controller.fleet.ports import CommandSender, HallStore, HealthProbe


@dataclass(frozen=True, slots=True)
class ApiContext:
    """The controller's ports, as handed to ``create_app``; kept on ``app.state.hall``."""

    store: HallStore
    commands: CommandSender
    health: HealthProbe


def get_context(request: Request) -> ApiContext:
    context = getattr(request.app.state, "hall", None)
    if not isinstance(context, ApiContext):
        raise RuntimeError("the app was not built by api.create_app (no ApiContext)")
    return context


Context = Annotated[ApiContext, Depends(get_context)]
