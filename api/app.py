"""The FastAPI application factory.

``create_app`` is handed the hall's ``Services`` by the composition root; nothing here builds
an adapter or reads configuration. The fleet's routers are always mounted; a feature's routers
only when the services they need are registered (``FEATURE_ROUTERS``), so a feature that is not
installed has no routes. The controller's errors are translated to HTTP in one place (``api.errors``), so
routes just let them rise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi_offline import FastAPIOffline

from api.api_docs import mount_api_docs
from api.auth import Authenticator
from api.auth import router as auth_router
from api.errors import install_error_handlers
from api.limits import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_UPLOAD_BYTES,
    BodyLimits,
    RequestLimits,
)
from api.pages import mount_pages
from api.params import refuse_nul
from api.routes import access as access_routes
from api.routes import alarm_rules as alarm_rule_routes
from api.routes import alarms as alarm_routes
from api.routes import cases as case_routes
from api.routes import clerk as clerk_routes
from api.routes import commands as command_routes
from api.routes import dead_letters as dead_letter_routes
from api.routes import devices as device_routes
from api.routes import health as health_routes
from api.routes import integration as integration_routes
from api.routes import kiosk as kiosk_routes
from api.routes import live as live_routes
from api.routes import notify as notify_routes
from api.routes import provisioning as provisioning_routes
from api.routes import remote_tickets as remote_ticket_routes
from api.routes import sign_on as sign_on_routes
from api.routes import stats as stats_routes
from api.routes import users as user_routes
from api.security_headers import SecurityHeaders
from api.session_cookies import SessionCookies
from hall_controller.access.service import AccessService
from hall_controller.alarm_rules.service import AlarmRuleService
from hall_controller.cases.integration_keys import ApiKeyService
from hall_controller.cases.service import CaseService
from hall_controller.cases.webhooks import WebhookService
from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.commands import CommandService
from hall_controller.fleet.health import HealthService
from hall_controller.fleet.provisioning import ProvisioningService
from hall_controller.fleet.views import FleetViews
from hall_controller.kernel.services import Services
from hall_controller.live.hub import LiveHub
from hall_controller.notify.directory import NotifyDirectory
from hall_controller.notify.service import NotificationService
from hall_controller.queue.clerk import ClerkService
from hall_controller.queue.kiosk_keys import KioskKeyService
from hall_controller.queue.remote_tickets import RemoteTicketService
from hall_controller.queue.stats import StatsService
from hall_controller.queue.tickets import TicketService
from hall_controller.sign_on.service import SignOnService
from hall_controller.users.lockout_alarms import LockoutAlarms

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
    {"name": "alarm rules", "description": "Alarm rules staff write (thresholds, rates, "
                                           "silences, values, event counts), the tuning of "
                                           "the built-in alarms, a preview over a day, the "
                                           "audit; see docs/alarms.md."},
    {"name": "sign-on", "description": "Campus sign-on (统一身份认证): OpenID Connect for the "
                                       "pages, back-channel logout, signed-on accounts."},
    {"name": "access", "description": "People and face enrolment, schedules, rules, holidays, "
                                      "door modes, signed remote unlock, the access audit."},
    {"name": "notify", "description": "Alarm notification: recipients and channels, the "
                                      "on-call rota, maintenance windows, each alarm's "
                                      "notifications and escalations, the delivery log, and "
                                      "the signed acknowledgement link."},
]


@dataclass(frozen=True, slots=True)
class FeatureRouters:
    """Routers mounted only when every service in ``needs`` is registered."""

    routers: tuple[APIRouter, ...]
    needs: tuple[type[Any], ...]


# Always mounted: the fleet is part of every hall.
FLEET_ROUTERS = (auth_router, device_routes.router, command_routes.router, alarm_routes.router,
                 dead_letter_routes.router, health_routes.router, user_routes.router)
FLEET_NEEDS: tuple[type[Any], ...] = (Authenticator, FleetViews, CommandService, AlarmService,
                                      HealthService)
# Each feature's routers and what they need; mounted in this order.
FEATURE_ROUTERS = (
    FeatureRouters((case_routes.router, integration_routes.router),
                   needs=(CaseService, WebhookService, ApiKeyService)),
    FeatureRouters((stats_routes.router,), needs=(StatsService,)),
    FeatureRouters((clerk_routes.router,), needs=(ClerkService,)),
    FeatureRouters((remote_ticket_routes.router,), needs=(RemoteTicketService,)),
    FeatureRouters((live_routes.router,), needs=(LiveHub,)),
    FeatureRouters((kiosk_routes.router,), needs=(TicketService, KioskKeyService)),
    FeatureRouters((access_routes.router,), needs=(AccessService,)),
    FeatureRouters((provisioning_routes.router,), needs=(ProvisioningService,)),
    FeatureRouters((notify_routes.router,), needs=(NotificationService, NotifyDirectory)),
    FeatureRouters((alarm_rule_routes.router,), needs=(AlarmRuleService,)),
    FeatureRouters((sign_on_routes.router,), needs=(SignOnService,)),
)


def create_app(services: Services, *, title: str = "Campus hall controller",
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
               body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
               hsts: bool = False) -> FastAPI:
    """Build the HTTP API over the hall's ``services``.

    The fleet's services and the ``Authenticator`` must be registered (``FLEET_NEEDS``;
    MissingService otherwise). Each feature's routes are mounted when its services are
    (``FEATURE_ROUTERS``): the online cases (cases, integration), the statistics, the window
    terminal, remote tickets (指尖办), the pages' live feed (``LiveHub``), the browser kiosk
    (``TicketService`` and ``KioskKeyService``), access control and device provisioning
    (``ProvisioningService``). API keys are accepted when an ``ApiKeyService`` is registered
    (it holds the keys), logins always. The pages (``/pages/``) are always served; they work
    with whatever of the above is mounted.

    Request bodies are capped before any route reads them (``api.limits``): ``max_body_bytes``,
    or ``max_upload_bytes`` for ``multipart/form-data`` (photo uploads), and the whole body must
    arrive within ``body_timeout_s``. Every response carries the security headers of
    ``api.security_headers``; ``hsts`` adds Strict-Transport-Security, for when clients reach
    the API over HTTPS.
    """
    for kind in FLEET_NEEDS:
        services.get(kind)  # fail here, at start, rather than on the first request
    # FastAPIOffline: /docs (Swagger UI) and /redoc load their scripts and styles from the app
    # (the fastapi-offline package ships them), not from a CDN: a campus network may have no
    # internet, and the docs must still work there. Its HTML pages are replaced by ours
    # (api.api_docs), which carry a Content-Security-Policy.
    app = FastAPIOffline(
        docs_url=None, redoc_url=None,
        title=title, version="1",
        description="Devices, telemetry, commands and alarms of the campus service hall. "
                    f"Log in at `{API_PREFIX}/auth/token`; times are milliseconds since the epoch. "
                    "Out-of-range numbers and text holding NUL (\\x00) are refused with a 422 "
                    "naming the parameter.",
        openapi_tags=_TAGS,
        # Every path and query parameter of every route: NUL is a 422 before the database.
        dependencies=[Depends(refuse_nul)],
    )
    app.state.services = services
    authenticator = services.get(Authenticator)
    # api.auth reads the authenticator from here on every request.
    app.state.authenticator = authenticator
    if ApiKeyService in services:
        authenticator.api_keys = services.get(ApiKeyService)
    if SignOnService in services:
        sign_on = authenticator.sign_on = services.get(SignOnService)
        authenticator.cookies = SessionCookies(secure=sign_on.settings.cookie_secure,
                                               max_age_s=sign_on.settings.ttl_s)
    if authenticator.service.lockout_audit is None:
        # Login lockouts are raised as an alarm, where staff see them.
        authenticator.service.lockout_audit = LockoutAlarms(services.get(AlarmService))
    for router in FLEET_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    for feature in FEATURE_ROUTERS:
        if all(kind in services for kind in feature.needs):
            for router in feature.routers:
                app.include_router(router, prefix=API_PREFIX)
    mount_pages(app)
    mount_api_docs(app)
    install_error_handlers(app)
    # The last added runs first: the headers go on every answer, the limits' refusals too.
    app.add_middleware(RequestLimits, limits=BodyLimits(
        max_body_bytes=max_body_bytes, max_upload_bytes=max_upload_bytes,
        body_timeout_s=body_timeout_s))
    app.add_middleware(SecurityHeaders, hsts=hsts)
    return app
