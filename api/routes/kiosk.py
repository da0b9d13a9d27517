"""The browser kiosk: take a ticket over HTTP, through the same ``TicketService.take`` as an
MQTT kiosk's ``ticket.take``.

A browser kiosk is a device, not a person, so it has no login: it presents a kiosk key bound
to its device id (``X-Kiosk-Device`` + ``X-Kiosk-Key``). The key is an HMAC of the device id
under the API's token secret, issued by an admin (``POST /kiosk/keys``) and typed into the
kiosk once; nothing is stored, and rotating ``auth.secret`` revokes every kiosk key (and
every login) at once. Tickets are keyed by (device id, ``request_id``) exactly as MQTT
requests are, so a retried POST gets the same ticket instead of a second number.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AdminOnly, Authenticator
from api.schemas import ErrorOut
from api.services import provide
from devices.contract import DEVICE_ID_PATTERN
from hall_controller.fleet.requests import RequestError
from hall_controller.queue.tickets import TicketService

KEY_PREFIX = "kk_"
_STATUS_BY_CODE = {
    "invalid_params": 422,
    "unknown_service": status.HTTP_404_NOT_FOUND,
    "hall_closed": status.HTTP_409_CONFLICT,
    "daily_cap_reached": status.HTTP_409_CONFLICT,
    "unavailable": status.HTTP_503_SERVICE_UNAVAILABLE,
}


def kiosk_key(secret: str, device_id: str) -> str:
    """The key of the browser kiosk ``device_id`` (deterministic: re-issuing gives the same)."""
    digest = hmac.new(secret.encode(), f"kiosk:{device_id}".encode(), hashlib.sha256).hexdigest()
    return KEY_PREFIX + digest[:40]


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(pattern=f"^{DEVICE_ID_PATTERN}$", description="e.g. kiosk-web-1")


class KeyOut(BaseModel):
    device_id: str
    kiosk_key: str


class ServiceOut(BaseModel):
    code: str
    name: str
    prefix: str


class IdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["campus_card", "qr", "person_id"]
    value: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")


class TakeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=64)
    identity: IdentityIn | None = None
    request_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9-]+$",
                            description="new per ticket; a retry with the same one gets the "
                                        "same ticket")


class TakeOut(BaseModel):
    ticket: str = Field(description='"A012"')
    ticket_id: str
    service: str
    service_name: str
    waiting_ahead: int
    estimated_wait_s: int
    issued_to: str = Field(description="the kiosk's device id")
    cases: list[dict[str, Any]] = Field(description="linked online cases with their materials")
    checked_in: bool = Field(default=False, description="a remote ticket was checked in")


Tickets = Annotated[TicketService, Depends(provide(TicketService))]
Auth = Annotated[Authenticator, Depends(provide(Authenticator))]


async def kiosk_device(
    auth: Auth,
    device: Annotated[str, Header(alias="X-Kiosk-Device", max_length=63)] = "",
    key: Annotated[str, Header(alias="X-Kiosk-Key", max_length=128)] = "",
) -> str:
    """The device id of the browser kiosk presenting its key (keys derive from the API's
    token secret)."""
    if not device or not key or not hmac.compare_digest(
            kiosk_key(auth.settings.secret, device), key):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "this kiosk is not set up: enter its device id and kiosk key "
                            "(an admin issues them at POST /api/v1/kiosk/keys)")
    return device


Kiosk = Annotated[str, Depends(kiosk_device)]
router = APIRouter(prefix="/kiosk", tags=["kiosk"], responses={
    401: {"model": ErrorOut, "description": "missing or wrong kiosk key"}})


@router.post("/keys", response_model=KeyOut)
async def issue_key(_: AdminOnly, auth: Auth, body: KeyIn) -> KeyOut:
    """The kiosk key of a browser kiosk (admin); enter it once on the kiosk screen."""
    return KeyOut(device_id=body.device_id,
                  kiosk_key=kiosk_key(auth.settings.secret, body.device_id))


@router.get("/services", response_model=list[ServiceOut])
async def services(_: Kiosk, tickets: Tickets) -> list[ServiceOut]:
    """The services a visitor can take a ticket for."""
    return [ServiceOut(code=s.code, name=s.name, prefix=s.prefix)
            for s in tickets.settings.services]


@router.post("/tickets", response_model=TakeOut, responses={
    404: {"model": ErrorOut, "description": "unknown service"},
    409: {"model": ErrorOut, "description": "the hall is closed or the day's cap is reached"},
    503: {"model": ErrorOut, "description": "the ticket store is unavailable; retry"}})
async def take(device_id: Kiosk, tickets: Tickets, body: TakeIn) -> TakeOut:
    """Take a ticket, as ``ticket.take`` over MQTT does (identity links open cases)."""
    params: dict[str, Any] = {"service": body.service}
    if body.identity is not None:
        params["identity"] = body.identity.model_dump()
    try:
        reply = await tickets.take(device_id, None, params, body.request_id)
    except RequestError as exc:
        raise HTTPException(_STATUS_BY_CODE.get(exc.code, status.HTTP_400_BAD_REQUEST),
                            f"{exc.code}: {exc.message}") from exc
    names = {s.code: s.name for s in tickets.settings.services}
    return TakeOut(ticket=reply["ticket"], ticket_id=reply["ticket_id"],
                   service=reply["service"], service_name=names.get(reply["service"],
                                                                    reply["service"]),
                   waiting_ahead=reply["waiting_ahead"],
                   estimated_wait_s=reply["estimated_wait_s"], issued_to=device_id,
                   cases=reply["cases"], checked_in=bool(reply.get("checked_in", False)))
