"""Every error answer of the API, in one shape and in one place.

``{"detail": "<English, for people reading the API>", "code": "<stable>", "params": {...}}``:
``code`` is a member of ``ErrorCode`` (the one registry, ``hall_controller.kernel.error_codes``)
and ``params`` holds the values its words need (a window's number, the clerk holding it, how
many seconds to wait). The pages translate ``code`` + ``params``; ``detail`` may be reworded.

The controller's errors carry their code (``HallError.error_code``); the login errors are
mapped by class here; FastAPI's validation errors are ``request.invalid`` naming the first
field; a route that refuses on its own raises ``ApiRefusal`` with its code.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.auth import InvalidApiKeyError
from api.refusal import ApiRefusal, unprocessable
from hall_controller.alarm_rules.model import RuleRefused
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import (
    Conflict,
    DeviceOffline,
    HallError,
    NoteRequired,
    NotFound,
    ParamValue,
    StoreUnavailable,
)
from hall_controller.users.service import (
    AccountChangeRefused,
    AccountDisabledError,
    AuthError,
    HashingBusyError,
    InvalidCredentialsError,
    LoginLockedError,
    WrongCurrentPasswordError,
)

logger = logging.getLogger(__name__)


def error_body(detail: Any, code: ErrorCode,
               params: Mapping[str, ParamValue] | None = None) -> dict[str, Any]:
    """The JSON of an error answer; ``params`` keeps only the names ``code`` declares."""
    given = params or {}
    return {"detail": detail, "code": code.value,
            "params": {name: given.get(name) for name in code.params}}


def error_response(status_code: int, detail: Any, code: ErrorCode,
                   params: Mapping[str, ParamValue] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(jsonable_encoder(error_body(detail, code, params)),
                        status_code=status_code, headers=headers)


# HTTP refusals made by Starlette or FastAPI themselves (no route, wrong method, ...).
_CODE_BY_STATUS = {
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    408: ErrorCode.REQUEST_TIMEOUT,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.REQUEST_TOO_LARGE,
    422: ErrorCode.INVALID,
}


def code_for_status(status_code: int) -> ErrorCode:
    """The generic code of an HTTP refusal that has no code of its own."""
    if status_code in _CODE_BY_STATUS:
        return _CODE_BY_STATUS[status_code]
    if status_code == 401:
        return ErrorCode.AUTH_INVALID_TOKEN
    if status_code == 503:
        return ErrorCode.STORE_UNAVAILABLE
    return ErrorCode.INTERNAL if status_code >= 500 else ErrorCode.INVALID


def _first_field(errors: Sequence[Any]) -> str:
    """``"name"`` for a body field, ``"query.day"`` style for others: what the page names."""
    if not errors:
        return ""
    loc = [str(part) for part in errors[0].get("loc", ())]
    if loc and loc[0] == "body":
        loc = loc[1:]
    return ".".join(loc)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in the one shape, with its code."""

    async def auth_error(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, AccountDisabledError):
            return error_response(status.HTTP_403_FORBIDDEN, str(exc),
                                  ErrorCode.AUTH_ACCOUNT_DISABLED)
        if isinstance(exc, WrongCurrentPasswordError):
            return error_response(status.HTTP_403_FORBIDDEN, str(exc),
                                  ErrorCode.AUTH_WRONG_PASSWORD)
        if isinstance(exc, LoginLockedError):
            return error_response(status.HTTP_429_TOO_MANY_REQUESTS, str(exc),
                                  ErrorCode.AUTH_LOGIN_LOCKED,
                                  {"retry_after_s": exc.retry_after_s},
                                  {"Retry-After": str(exc.retry_after_s)})
        if isinstance(exc, HashingBusyError):
            return error_response(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), ErrorCode.AUTH_BUSY,
                                  {"retry_after_s": exc.retry_after_s},
                                  {"Retry-After": str(exc.retry_after_s)})
        if isinstance(exc, InvalidApiKeyError):
            return error_response(status.HTTP_401_UNAUTHORIZED, str(exc),
                                  ErrorCode.AUTH_INVALID_API_KEY, headers={"WWW-Authenticate": "ApiKey"})
        # RFC 6750: a 401 names the scheme, so clients know to log in and send a bearer token.
        if isinstance(exc, InvalidCredentialsError):
            return error_response(status.HTTP_401_UNAUTHORIZED, str(exc),
                                  ErrorCode.AUTH_INVALID_CREDENTIALS,
                                  headers={"WWW-Authenticate": "Bearer"})
        return error_response(status.HTTP_401_UNAUTHORIZED, str(exc), ErrorCode.AUTH_INVALID_TOKEN,
                              headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    async def hall_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HallError)
        code, params = exc.error_code, exc.error_params
        if isinstance(exc, NotFound):
            return error_response(status.HTTP_404_NOT_FOUND, str(exc) or "not found", code, params)
        if isinstance(exc, NoteRequired | RuleRefused):
            return error_response(422, str(exc), code, params)
        if isinstance(exc, DeviceOffline):
            return error_response(status.HTTP_409_CONFLICT,
                                  str(exc) or "the device is offline; try again when it is back",
                                  code, params)
        if isinstance(exc, AccountChangeRefused):
            return error_response(status.HTTP_409_CONFLICT if exc.conflict
                                  else 422, str(exc), code, params)  # 422's name differs by version
        if isinstance(exc, Conflict):
            return error_response(status.HTTP_409_CONFLICT,
                                  str(exc) or "conflicts with the current state", code, params)
        if isinstance(exc, StoreUnavailable):
            # The adapter's message may carry connection details; keep them in the log only.
            logger.warning("store unavailable during %s %s: %s", request.method, request.url.path,
                           exc, extra={"path": request.url.path})
            return error_response(status.HTTP_503_SERVICE_UNAVAILABLE,
                                  "the database is unavailable; try again shortly",
                                  ErrorCode.STORE_UNAVAILABLE, headers={"Retry-After": "5"})
        logger.error("unmapped controller error during %s %s", request.method, request.url.path,
                     exc_info=exc, extra={"path": request.url.path})
        return error_response(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal error",
                              ErrorCode.INTERNAL)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        # ``detail`` stays FastAPI's list (each error's loc, msg and type), as API users know it.
        return error_response(422, errors, ErrorCode.REQUEST_INVALID,
                              {"field": _first_field(errors)})

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers) if exc.headers else None
        if isinstance(exc, ApiRefusal):
            return error_response(exc.status_code, exc.detail, exc.code, exc.params, headers)
        return error_response(exc.status_code, exc.detail, code_for_status(exc.status_code),
                              headers=headers)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after answering, so the server still logs the traceback.
        return error_response(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal error",
                              ErrorCode.INTERNAL)

    app.add_exception_handler(AuthError, auth_error)
    app.add_exception_handler(HallError, hall_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


__all__ = ["ApiRefusal", "code_for_status", "error_body", "error_response",
           "install_error_handlers", "unprocessable"]
