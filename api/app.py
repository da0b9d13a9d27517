"""The FastAPI application factory.

``create_app`` is handed the controller's ports by the composition root; nothing here builds
an adapter or reads configuration.  The controller's errors are translated to HTTP here, once,
so routes just let them rise.
"""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI, Request, status
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from api.auth import Authenticator, InvalidApiKeyError
from api.auth import router as auth_router
from api.context import ApiContext
from api.pages import mount_pages
from api.params import refuse_nul
from api.routes import alarms as alarm_routes
from api.routes import cases as case_routes
from api.routes import commands as command_routes
from api.routes import dead_letters as dead_letter_routes
from api.routes import devices as device_routes
from api.routes import health as health_routes
from api.routes import integration as integration_routes
from api.routes import stats as stats_routes
from api.routes.access import access_router
from api.routes.clerk import clerk_router
from api.routes.integration import IntegrationContext
from api.routes.kiosk import kiosk_router
from api.routes.live import LiveSource, live_router
from api.routes.remote_tickets import remote_tickets_router
from hall_controller.access.service import AccessService
from hall_controller.fleet.ports import CommandSender, HallStore, HealthProbe
from hall_controller.kernel.errors import Conflict, DeviceOffline, HallError, NotFound, StoreUnavailable
from hall_controller.queue.clerk import ClerkService
from hall_controller.queue.remote_tickets import RemoteTicketService
from hall_controller.queue.stats import StatsService
from hall_controller.queue.tickets import TicketService
from hall_controller.users.ports import UserStore
from hall_controller.users.service import (
    AccountDisabledError,
    AuthError,
    AuthSettings,
    InvalidCredentialsError,
)

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

_TAGS = [
    {"name": "auth", "description": "Log in (OAuth2 password form) and get a bearer token."},
    {"name": "users", "description": "User management (admin)."},
    {"name": "devices", "description": "Devices, presence, latest values, telemetry, events."},
    {"name": "commands", "description": "Commands to devices (facilities, admin)."},
    {"name": "alarms", "description": "Alarms: active/cleared × acknowledged."},
    {"name": "dead letters", "description": "Messages refused by the controller."},
    {"name": "health", "description": "Liveness and component health; no login."},
    {"name": "cases", "description": "Online cases (一网通办), upserted by the online platform "
                                     "with an API key; see docs/integration.md."},
    {"name": "integration", "description": "API keys, the case event feed, webhooks and their "
                                           "delivery log, the one-trip rate."},
    {"name": "statistics", "description": "Per service and day: tickets, waits, service times, "
                                          "service level, no-shows; the one-trip rate."},
    {"name": "windows", "description": "The window terminal (clerk): open, call next, recall, "
                                       "start, complete, transfer, no-show, park, resume."},
    {"name": "remote tickets", "description": "指尖办: take a ticket before arriving (API key "
                                              "or login), check in at a kiosk, position and "
                                              "estimated wait."},
    {"name": "live", "description": "Server-sent events for the pages: ticket calls (public), "
                                    "device presence and alarms (facilities)."},
    {"name": "kiosk", "description": "Browser kiosks: take a ticket with a kiosk key."},
    {"name": "access", "description": "People and face enrolment, schedules, rules, holidays, "
                                      "door modes, signed remote unlock, the access audit."},
]


def create_app(
    store: HallStore, commands: CommandSender, health: HealthProbe,
    auth: AuthSettings | Authenticator, *, title: str = "Campus hall controller",
    integration: IntegrationContext | None = None, stats: StatsService | None = None,
    clerk: ClerkService | None = None, remote_tickets: RemoteTicketService | None = None,
    live: LiveSource | None = None, kiosk: TicketService | None = None,
    access: AccessService | None = None,
) -> FastAPI:
    """Build the HTTP API over the controller's ports.

    ``auth`` is either the settings (secret and token lifetime; users come from ``store``, which
    must then be a ``UserStore`` too) or a ready ``Authenticator`` (e.g. one with cheaper
    password hashing for tests, or over a users store of its own).
    ``integration`` (the online-case services) mounts the case and integration routes and
    turns on API keys; without it they are absent. ``stats`` (the queue's daily figures)
    mounts ``/stats``. ``clerk`` (the window terminal's service) mounts ``/windows``.
    ``remote_tickets`` (指尖办) mounts ``/remote-tickets``; API keys work there only when
    ``integration`` is given too (it holds the keys), logins always.
    ``live`` (the live feed) mounts the ``/live`` event streams the pages read; ``kiosk`` (the
    ticket service) mounts ``/kiosk`` for browser kiosks. The pages (``/pages/``) are always
    served; they work with whatever of the above is mounted.
    """
    # FastAPIOffline: /docs (Swagger UI) and /redoc load their scripts and styles from the app
    # (the fastapi-offline package ships them), not from a CDN: a campus network may have no
    # internet, and the docs must still work there.
    app = FastAPIOffline(
        title=title, version="1",
        description="Devices, telemetry, commands and alarms of the campus service hall. "
                    f"Log in at `{API_PREFIX}/auth/token`; times are milliseconds since the epoch. "
                    "Out-of-range numbers and text holding NUL (\\x00) are refused with a 422 "
                    "naming the parameter.",
        openapi_tags=_TAGS,
        # Every path and query parameter of every route: NUL is a 422 before the database.
        dependencies=[Depends(refuse_nul)],
    )
    app.state.hall = ApiContext(store=store, commands=commands, health=health)
    if not isinstance(auth, Authenticator):
        if not isinstance(store, UserStore):  # PostgresHallStore keeps users too
            raise TypeError("create_app: with AuthSettings the store must keep users too; "
                            "otherwise pass an Authenticator over a users store")
        auth = Authenticator(auth, store)
    app.state.authenticator = auth
    for router in (auth_router, device_routes.router, command_routes.router, alarm_routes.router,
                   dead_letter_routes.router, health_routes.router):
        app.include_router(router, prefix=API_PREFIX)
    if integration is not None:
        app.state.integration = integration
        auth.api_keys = integration.api_keys
        app.include_router(case_routes.router, prefix=API_PREFIX)
        app.include_router(integration_routes.router, prefix=API_PREFIX)
    if stats is not None:
        app.state.stats = stats
        app.include_router(stats_routes.router, prefix=API_PREFIX)
    if clerk is not None:
        app.include_router(
            clerk_router(clerk, integration.cases.get if integration is not None else None),
            prefix=API_PREFIX)
    if remote_tickets is not None:
        app.include_router(remote_tickets_router(remote_tickets), prefix=API_PREFIX)
    if live is not None:
        app.include_router(live_router(live, clerk), prefix=API_PREFIX)
    if kiosk is not None:
        app.include_router(kiosk_router(kiosk, auth.settings.secret), prefix=API_PREFIX)
    if access is not None:
        app.include_router(access_router(access), prefix=API_PREFIX)
    mount_pages(app)
    _install_error_handlers(app)
    return app


def _error(code: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=code, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    async def auth_error(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, AccountDisabledError):
            return _error(status.HTTP_403_FORBIDDEN, str(exc))
        if isinstance(exc, InvalidApiKeyError):
            return _error(status.HTTP_401_UNAUTHORIZED, str(exc), {"WWW-Authenticate": "ApiKey"})
        # RFC 6750: a 401 names the scheme, so clients know to log in and send a bearer token.
        headers = {"WWW-Authenticate": "Bearer"}
        if not isinstance(exc, InvalidCredentialsError):
            headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return _error(status.HTTP_401_UNAUTHORIZED, str(exc), headers)

    async def hall_error(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, NotFound):
            return _error(status.HTTP_404_NOT_FOUND, str(exc) or "not found")
        if isinstance(exc, DeviceOffline):
            return _error(status.HTTP_409_CONFLICT,
                          str(exc) or "the device is offline; try again when it is back")
        if isinstance(exc, Conflict):
            return _error(status.HTTP_409_CONFLICT, str(exc) or "conflicts with the current state")
        if isinstance(exc, StoreUnavailable):
            # The adapter's message may carry connection details; keep them in the log only.
            logger.warning("store unavailable during %s %s: %s", request.method, request.url.path,
                           exc, extra={"path": request.url.path})
            return _error(status.HTTP_503_SERVICE_UNAVAILABLE,
                          "the database is unavailable; try again shortly", {"Retry-After": "5"})
        logger.error("unmapped controller error during %s %s", request.method, request.url.path,
                     exc_info=exc, extra={"path": request.url.path})
        return _error(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal error")

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after answering, so the server still logs the traceback.
        return _error(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal error")

    app.add_exception_handler(AuthError, auth_error)
    app.add_exception_handler(HallError, hall_error)
    app.add_exception_handler(Exception, unexpected)
