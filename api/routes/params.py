"""Parameters and validation shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from fastapi.exceptions import RequestValidationError

from devices.contract import DEVICE_ID_PATTERN

# A malformed id is a 422 (it can never exist); a well-formed unknown one is a 404.
DeviceId = Annotated[str, Path(pattern=f"^{DEVICE_ID_PATTERN}$", description="the device id")]


def invalid(location: str, name: str, message: str, value: object) -> RequestValidationError:
    """A 422 shaped exactly like FastAPI's own, for checks that span several parameters."""
    return RequestValidationError([
        {"type": "value_error", "loc": (location, name), "msg": message, "input": value},
    ])
