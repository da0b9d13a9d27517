"""The browser kiosk: take a ticket over HTTP, through the same ``TicketService.take`` as an
MQTT kiosk's ``ticket.take``.

A browser kiosk is a device, not a person, so it has no login: it presents its kiosk key with
its device id (``X-Kiosk-Device`` + ``X-Kiosk-Key``). An admin creates a random key per kiosk
(``POST /kiosk/keys``, or the users page); it is shown once, stored only as a hash, listed with
when it was last used, and revoked on its own (``DELETE /kiosk/keys/{key_id}``): the kiosk is
refused from its next request on. Requests are rate-limited per key and per client address
(``hall_controller.queue.kiosk_keys``). Tickets are keyed by (device id, ``request_id``)
exactly as MQTT requests are, so a retried POST gets the same ticket instead of a second number.

A visitor's online cases are shown only to a visitor the kiosk's reader identified: a campus
card or a QR code, which the reader types into the page. A typed person id identifies no one
(anybody can type anybody's id), so the browser kiosk does not accept it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AdminOnly
from api.params import NO_NUL
from api.refusal import ApiRefusal
from api.schemas import ErrorOut, Millis
from api.services import provide
from devices.contract import DEVICE_ID_PATTERN
from hall_controller.fleet.requests import RequestError
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.queue.kiosk_keys import (
    KioskKey,
    KioskKeyService,
    KioskRefused,
    KioskThrottled,
)
from hall_controller.queue.tickets import TicketService

# ticket.take's wire codes (an MQTT kiosk gets those) as HTTP answers with the API's codes.
_REFUSALS = {
    "invalid_params": (422, ErrorCode.INVALID),
    "unknown_service": (status.HTTP_404_NOT_FOUND, ErrorCode.SERVICE_UNKNOWN),
    "hall_closed": (status.HTTP_409_CONFLICT, ErrorCode.HALL_CLOSED),
    "daily_cap_reached": (status.HTTP_409_CONFLICT, ErrorCode.SERVICE_DAILY_CAP),
    "unavailable": (status.HTTP_503_SERVICE_UNAVAILABLE, ErrorCode.STORE_UNAVAILABLE),
}


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(pattern=f"^{DEVICE_ID_PATTERN}$", description="e.g. kiosk-web-1")
    name: str = Field(default="", max_length=100, pattern=NO_NUL,
                      description="where the kiosk stands, e.g. '一楼大厅 左'")


class KeyOut(BaseModel):
    key_id: str
    device_id: str
    name: str
    created_ms: Millis
    created_by: str
    last_used_ms: Millis | None = Field(description="to the minute; null if never used")
    revoked_ms: Millis | None
    active: bool

    @classmethod
    def build(cls, key: KioskKey) -> KeyOut:
        return cls(key_id=key.key_id, device_id=key.device_id, name=key.name,
                   created_ms=key.created_ms, created_by=key.created_by,
                   last_used_ms=key.last_used_ms, revoked_ms=key.revoked_ms, active=key.active)


class KeyCreatedOut(KeyOut):
    kiosk_key: str = Field(description="the key itself: shown this once; enter it on the kiosk")


class ServiceOut(BaseModel):
    code: str
    name: str
    prefix: str


class IdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # What the kiosk's card reader or QR scanner read; never a typed person id (module doc).
    type: Literal["campus_card", "qr"]
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
KioskKeys = Annotated[KioskKeyService, Depends(provide(KioskKeyService))]
NOT_SET_UP = ("this kiosk is not set up: enter its device id and kiosk key "
              "(an admin creates one on the users page or at POST /api/v1/kiosk/keys)")


async def kiosk_device(
    request: Request,
    keys: KioskKeys,
    device: Annotated[str, Header(alias="X-Kiosk-Device", max_length=63)] = "",
    key: Annotated[str, Header(alias="X-Kiosk-Key", max_length=200)] = "",
) -> str:
    """The device id of the browser kiosk presenting its active key."""
    address = request.client.host if request.client is not None else "unknown"
    try:
        await keys.authenticate(device, key, address)
    except KioskThrottled as exc:
        wait_s = max(1, round(exc.retry_after_s))
        raise ApiRefusal(status.HTTP_429_TOO_MANY_REQUESTS, str(exc), ErrorCode.KIOSK_THROTTLED,
                         {"retry_after_s": wait_s}, headers={"Retry-After": str(wait_s)}) from exc
    except KioskRefused as exc:
        raise ApiRefusal(status.HTTP_401_UNAUTHORIZED, NOT_SET_UP,
                         ErrorCode.KIOSK_NOT_SET_UP) from exc
    return device


Kiosk = Annotated[str, Depends(kiosk_device)]
KIOSK_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, wrong or revoked kiosk key"},
    429: {"model": ErrorOut, "description": "too many requests with this key or from this "
                                            "address; Retry-After says when to try again"}}
router = APIRouter(prefix="/kiosk", tags=["kiosk"])


@router.post("/keys", response_model=KeyCreatedOut, status_code=status.HTTP_201_CREATED)
async def create_key(principal: AdminOnly, keys: KioskKeys, body: KeyIn) -> KeyCreatedOut:
    """Create a key for a browser kiosk (admin). The key is in this answer once; only its hash
    is kept. Enter it once on the kiosk screen."""
    issued = await keys.create(body.device_id, body.name, principal.name)
    return KeyCreatedOut(**KeyOut.build(issued.key).model_dump(), kiosk_key=issued.plaintext)


@router.get("/keys", response_model=list[KeyOut])
async def list_keys(_: AdminOnly, keys: KioskKeys) -> list[KeyOut]:
    """Every kiosk key, revoked ones too, newest first (admin); never the keys themselves."""
    return [KeyOut.build(k) for k in await keys.list_keys()]


@router.delete("/keys/{key_id}", response_model=KeyOut,
               responses={404: {"model": ErrorOut, "description": "unknown key"}})
async def revoke_key(key_id: Annotated[str, Path(max_length=64)], principal: AdminOnly,
                     keys: KioskKeys) -> KeyOut:
    """Revoke a kiosk key (admin): the kiosk is refused from its next request on. Revoking
    twice is harmless."""
    return KeyOut.build(await keys.revoke(key_id, principal.name))


@router.get("/services", response_model=list[ServiceOut], responses=KIOSK_REFUSALS)
async def services(_: Kiosk, tickets: Tickets) -> list[ServiceOut]:
    """The services a visitor can take a ticket for."""
    return [ServiceOut(code=s.code, name=s.name, prefix=s.prefix)
            for s in tickets.settings.services]


@router.post("/tickets", response_model=TakeOut, responses={
    **KIOSK_REFUSALS,
    404: {"model": ErrorOut, "description": "unknown service"},
    409: {"model": ErrorOut, "description": "the hall is closed or the day's cap is reached"},
    503: {"model": ErrorOut, "description": "the ticket store is unavailable; retry"}})
async def take(device_id: Kiosk, tickets: Tickets, body: TakeIn) -> TakeOut:
    """Take a ticket, as ``ticket.take`` over MQTT does (a card or QR code read by the kiosk
    links the visitor's open cases)."""
    params: dict[str, Any] = {"service": body.service}
    if body.identity is not None:
        params["identity"] = body.identity.model_dump()
    try:
        reply = await tickets.take(device_id, None, params, body.request_id)
    except RequestError as exc:
        status_code, code = _REFUSALS.get(exc.code, (status.HTTP_400_BAD_REQUEST, ErrorCode.INVALID))
        raise ApiRefusal(status_code, f"{exc.code}: {exc.message}", code,
                         {"service": body.service}) from exc
    names = {s.code: s.name for s in tickets.settings.services}
    return TakeOut(ticket=reply["ticket"], ticket_id=reply["ticket_id"],
                   service=reply["service"], service_name=names.get(reply["service"],
                                                                    reply["service"]),
                   waiting_ahead=reply["waiting_ahead"],
                   estimated_wait_s=reply["estimated_wait_s"], issued_to=device_id,
                   cases=reply["cases"], checked_in=bool(reply.get("checked_in", False)))
