"""``ApiRefusal``: an HTTP refusal a route makes itself, with its stable error code (see
``api.errors`` for the shape of every error answer)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import HTTPException

from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import HallError, ParamValue


class ApiRefusal(HTTPException):
    """A refusal a route (or a dependency) makes itself, with its stable code."""

    def __init__(self, status_code: int, detail: str, code: ErrorCode,
                 params: Mapping[str, ParamValue] | None = None, *,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, detail, headers)
        self.code = code
        self.params = dict(params or {})


def unprocessable(exc: Exception) -> ApiRefusal:
    """A 422 for an input the controller refused, keeping its code when it has one."""
    if isinstance(exc, HallError):
        return ApiRefusal(422, str(exc), exc.error_code, exc.error_params)
    return ApiRefusal(422, str(exc), ErrorCode.INVALID)


__all__ = ["ApiRefusal", "unprocessable"]
