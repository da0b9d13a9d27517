"""Kiosk tickets: the ``ticket.take`` request (``req`` → ``res``, wire contract in DESIGN.md).

Numbers come from the store, which allocates them atomically in the database per service and
service day, so any number of kiosks and controllers can take tickets at once. The service day
and the opening hours are those of the hall's configured time zone (Asia/Shanghai by default),
not the server's.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from devices.contract import now_ms
from hall_controller.domain.model import DeviceRecord
from hall_controller.domain.queue_model import ServiceDef, TicketSource
from hall_controller.errors import StoreUnavailable
from hall_controller.ports_tickets import (
    IDENTITY_TYPES,
    DailyCapReached,
    IssuedTicket,
    TicketRequest,
    TicketStore,
    UnknownService,
)
from hall_controller.services.requests import RequestError, current_request_id

logger = logging.getLogger(__name__)

MAX_IDENTITY_VALUE = 256
MAX_SERVICE_CODE = 64


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """When kiosks may issue tickets, in the hall's local time."""

    opens: time
    closes: time
    weekdays: frozenset[int] = frozenset(range(1, 8))  # ISO: Monday 1 .. Sunday 7

    def is_open(self, local: datetime) -> bool:
        return local.isoweekday() in self.weekdays and self.opens <= local.time() < self.closes


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """The queue's configuration (``[queue]`` in config.toml)."""

    services: tuple[ServiceDef, ...] = ()
    timezone: str = "Asia/Shanghai"
    opening_hours: OpeningHours | None = None  # None: always open (the demo runs at night too)
    # Per-visitor service time the interim estimate assumes until the service has history.
    default_service_s: float = 300.0
    service_codes: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "service_codes", frozenset(s.code for s in self.services))


class TicketService:
    """Issues tickets; ``take`` is the ``ticket.take`` handler for the request router."""

    def __init__(self, store: TicketStore, settings: QueueSettings,
                 clock: Callable[[], int] = now_ms) -> None:
        self._store = store
        self.settings = settings
        self._zone = ZoneInfo(settings.timezone)
        self._clock = clock

    async def start(self) -> None:
        """Sync the services catalog in the database with the config (every controller does
        it at start; it is idempotent)."""
        await self._store.sync_services(list(self.settings.services))

    def local_time(self, at_ms: int) -> datetime:
        return datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(self._zone)

    def service_day(self, at_ms: int) -> str:
        """The local calendar day tickets taken at ``at_ms`` belong to (numbers restart daily)."""
        return self.local_time(at_ms).date().isoformat()

    async def take(self, device_id: str, device: DeviceRecord | None,
                   params: dict[str, Any]) -> dict[str, Any]:
        """``ticket.take``: params ``{"service": code, "identity"?: {"type", "value"},
        "priority"?: bool}`` → ``{"ticket", "ticket_id", "service", "waiting_ahead",
        "estimated_wait_s", "cases"}``. Errors: invalid_params, unknown_service, hall_closed,
        daily_cap_reached, unavailable."""
        service_code, identity, priority = _parse_params(params)
        if service_code not in self.settings.service_codes:
            raise RequestError("unknown_service",
                               f"no service {service_code!r}; known: "
                               f"{', '.join(sorted(self.settings.service_codes))}")
        at = self._clock()
        hours = self.settings.opening_hours
        if hours is not None and not hours.is_open(self.local_time(at)):
            raise RequestError("hall_closed",
                               f"the hall issues tickets {hours.opens:%H:%M}-{hours.closes:%H:%M} "
                               f"({self.settings.timezone})")
        request = TicketRequest(
            ticket_id=str(uuid.uuid4()), service_code=service_code,
            service_day=self.service_day(at), issued_ms=at, actor=f"kiosk:{device_id}",
            source=TicketSource.KIOSK, priority=priority,
            # Only a person id names a person outright; a card number, QR code or face match
            # is kept as read, for the cases engine to resolve.
            person_id=identity[1] if identity is not None and identity[0] == "person_id" else None,
            identity_type=None if identity is None else identity[0],
            identity_value=None if identity is None else identity[1],
            origin_device=device_id, request_id=current_request_id.get(None))
        try:
            issued = await self._store.issue_ticket(request)
        except UnknownService as exc:  # configured here, but another controller's config won
            raise RequestError("unknown_service", str(exc)) from exc
        except DailyCapReached as exc:
            raise RequestError("daily_cap_reached", str(exc)) from exc
        except StoreUnavailable as exc:
            logger.warning("ticket.take from %s: %s", device_id, exc, extra={"device_id": device_id})
            raise RequestError("unavailable", "the ticket store is unavailable; try again") from exc
        ticket = issued.ticket
        if issued.created:
            logger.info("ticket %s (%s) issued to %s", ticket.number, ticket.service_code, device_id,
                        extra={"device_id": device_id, "ticket_id": ticket.ticket_id})
        return {
            "ticket": ticket.number,
            "ticket_id": ticket.ticket_id,
            "service": ticket.service_code,
            "waiting_ahead": issued.waiting_ahead,
            "estimated_wait_s": self.interim_estimate_s(issued),
            # Stays empty until the cases engine links the visitor's open online cases to the
            # ticket (issue 3, item 4); nothing is linked here, so nothing is claimed.
            "cases": list(ticket.case_ids),
        }

    def interim_estimate_s(self, issued: IssuedTicket) -> int:
        """INTERIM: position × recent mean service time ÷ windows serving the service (the
        naive method the issue asks to beat). To be replaced by ``domain/wait_estimate.py``
        once it is wired in."""
        per_visitor = issued.recent_service_s or self.settings.default_service_s
        return round(issued.waiting_ahead * per_visitor / max(1, issued.serving_windows))


def _parse_params(params: dict[str, Any]) -> tuple[str, tuple[str, str] | None, bool]:
    service = params.get("service")
    if not isinstance(service, str) or not service or len(service) > MAX_SERVICE_CODE:
        raise RequestError("invalid_params", "params.service: expected a service code (string)")
    priority = params.get("priority", False)
    if not isinstance(priority, bool):
        raise RequestError("invalid_params", "params.priority: expected true or false")
    raw = params.get("identity")
    if raw is None:
        return service, None, priority
    if not isinstance(raw, dict) or set(raw) != {"type", "value"}:
        raise RequestError("invalid_params",
                           'params.identity: expected {"type": ..., "value": ...}')
    kind, value = raw["type"], raw["value"]
    if kind not in IDENTITY_TYPES:
        raise RequestError("invalid_params",
                           f"params.identity.type: expected one of {', '.join(sorted(IDENTITY_TYPES))}")
    if not isinstance(value, str) or not value or len(value) > MAX_IDENTITY_VALUE:
        raise RequestError("invalid_params",
                           f"params.identity.value: expected a string of 1-{MAX_IDENTITY_VALUE} characters")
    return service, (kind, value), priority
