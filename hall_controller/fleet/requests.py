"""Device requests (``req`` → ``res``): a router from method names to handlers.

Other capabilities (the queue engine's ``ticket.take``) register their methods here; the router
answers unknown methods and handler failures with a clear error code instead of silence.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from devices.contract import Request, Response, error_response, now_ms, ok_response
from hall_controller.fleet.model import DeviceRecord

logger = logging.getLogger(__name__)


class RequestError(Exception):
    """A handler's way to answer ``ok: false`` with a code the device can act on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Handler = Callable[[str, DeviceRecord | None, dict[str, Any], str], Awaitable[dict[str, Any]]]
"""``(device_id, device, params, request_id)``. A handler that creates something keys it on
(device id, request id), so a redelivered request finds what the first delivery made."""


class RequestRouter:
    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self.register("device.time", _device_time)

    def register(self, method: str, handler: Handler) -> None:
        if method in self._handlers and method != "device.time":
            raise ValueError(f"request method {method!r} registered twice")
        self._handlers[method] = handler

    @property
    def methods(self) -> list[str]:
        return sorted(self._handlers)

    async def handle(self, device_id: str, device: DeviceRecord | None, request: Request) -> Response:
        handler = self._handlers.get(request.method)
        if handler is None:
            return error_response(request.id, "unknown_method",
                                  f"unknown method {request.method!r}; known: {', '.join(self.methods)}")
        try:
            return ok_response(request.id,
                               await handler(device_id, device, request.params, request.id))
        except RequestError as exc:
            return error_response(request.id, exc.code, exc.message)
        except Exception:
            logger.exception("request %s from %s failed", request.method, device_id,
                             extra={"device_id": device_id})
            return error_response(request.id, "internal_error",
                                  "the controller failed to handle this request")


async def _device_time(device_id: str, device: DeviceRecord | None, params: dict[str, Any],
                       request_id: str) -> dict[str, Any]:
    """Lets an agent check its clock against the controller's."""
    return {"now_ms": now_ms()}
