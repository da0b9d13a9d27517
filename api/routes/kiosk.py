"""The browser kiosk: take a ticket over HTTP, through the same ``TicketService.take`` as an
MQTT kiosk's ``ticket.take``.

A browser kiosk is a device, not a person, so it has no login: it presents its kiosk key with
its device id (``X-Kiosk-Device`` + ``X-Kiosk-Key``). An admin creates a random key per kiosk
(``POST /kiosk/keys``, or the users page); it is shown once, stored only as a hash, listed with
when it was last used, and revoked on its own (``DELETE /kiosk/keys/{key_id}``): the kiosk is
refused from its next request on. Requests are rate-limited per key and per client address
(``hall_controller.queue.kiosk_keys``). Tickets are keyed by (device id, ``request_id``)
exactly as MQTT requests are, so a retried POST gets the same ticket instead of a second number.

Without curl: an admin issues a one-time pairing code for a kiosk id (``POST
/kiosk/pairing-codes``, the users page), and the kiosk's setup screen trades it for the key
(``POST /kiosk/pair``; ``hall_controller.queue.kiosk_pairing``). A browser kiosk is listed with
the devices (kind kiosk, model ``browser``), online while it makes requests: its page checks in
every 30 s (``GET /kiosk/status``).

A visitor's online cases are shown only to a visitor the kiosk's reader identified: a campus
card or a QR code, which the reader types into the page. A typed person id identifies no one
(anybody can type anybody's id), so the browser kiosk does not accept it. A card or code that
names no one we know is refused (``identity.unknown``) rather than given a ticket that looks
identified and is not.

Every refusal carries its stable ``code`` (``kiosk.pairing_code_expired``, ...; see
``hall_controller.kernel.error_codes``), so the page says it in the visitor's language.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AdminOnly
from api.params import NO_NUL
from api.refusal import ApiRefusal
from api.schemas import ErrorOut, Millis
from api.services import provide, provide_optional
from devices.contract import DEVICE_ID_PATTERN, now_ms
from hall_controller.fleet.registry import DeviceRegistry
from hall_controller.fleet.requests import RequestError
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import HallError
from hall_controller.queue.kiosk_keys import (
    KioskKey,
    KioskKeyService,
    KioskRefused,
    KioskThrottled,
)
from hall_controller.queue.kiosk_pairing import (
    CODE_TTL_MS,
    KioskPairingService,
    PairingCode,
    PairingRefused,
    PairingThrottled,
)
from hall_controller.queue.tickets import TicketService

# ticket.take's wire codes (an MQTT kiosk gets those) as HTTP answers with the API's codes.
_REFUSALS = {
    "invalid_params": (422, ErrorCode.INVALID),
    "unknown_service": (status.HTTP_404_NOT_FOUND, ErrorCode.SERVICE_UNKNOWN),
    "hall_closed": (status.HTTP_409_CONFLICT, ErrorCode.HALL_CLOSED),
    "daily_cap_reached": (status.HTTP_409_CONFLICT, ErrorCode.SERVICE_DAILY_CAP),
    "unavailable": (status.HTTP_503_SERVICE_UNAVAILABLE, ErrorCode.STORE_UNAVAILABLE),
    "unknown_identity": (status.HTTP_404_NOT_FOUND, ErrorCode.IDENTITY_UNKNOWN),
}
_PAIRING_REFUSALS = {
    "pairing_code_unknown": ErrorCode.KIOSK_PAIRING_CODE_UNKNOWN,
    "pairing_code_expired": ErrorCode.KIOSK_PAIRING_CODE_EXPIRED,
    "pairing_code_used": ErrorCode.KIOSK_PAIRING_CODE_USED,
}
logger = logging.getLogger(__name__)


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
    name_en: str = Field(description="the name on a page switched to English (\"\": name)")
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


class PairingCodeIn(KeyIn):
    pass


class PairingCodeOut(BaseModel):
    device_id: str
    name: str
    created_ms: Millis
    created_by: str
    expires_ms: Millis
    state: Literal["pending", "used", "expired"]
    used_ms: Millis | None
    used_from: str | None = Field(description="the client address that used it")


class PairingCodeCreatedOut(PairingCodeOut):
    code: str = Field(description='"ABCD-EFGH": shown this once; type it on the kiosk within '
                                  f"{CODE_TTL_MS // 60_000} minutes")


class PairIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9 \-]+$",
                      description="the pairing code the admin was given (case, spaces and "
                                  "dashes do not matter)")


class PairedOut(BaseModel):
    device_id: str
    name: str
    kiosk_key: str = Field(description="the kiosk's key: the page keeps it")


class StatusOut(BaseModel):
    device_id: str
    name: str


class WindowOut(BaseModel):
    window_id: str
    number: int


class TakeOut(BaseModel):
    ticket: str = Field(description='"A012"')
    ticket_id: str
    service: str
    service_name: str
    service_name_en: str
    waiting_ahead: int
    estimated_wait_s: int
    issued_to: str = Field(description="the kiosk's device id")
    cases: list[dict[str, Any]] = Field(description="linked online cases with their materials")
    checked_in: bool = Field(default=False, description="a remote ticket was checked in")
    windows: list[WindowOut] = Field(default_factory=list,
                                     description="the windows that serve the ticket's service, "
                                                 "preferred first")


Tickets = Annotated[TicketService, Depends(provide(TicketService))]
KioskKeys = Annotated[KioskKeyService, Depends(provide(KioskKeyService))]
Pairing = Annotated[KioskPairingService, Depends(provide(KioskPairingService))]
# Always there in a hall; optional so that the kiosk's routes can run over a bare API.
Registry = Annotated[DeviceRegistry | None, Depends(provide_optional(DeviceRegistry))]
NOT_SET_UP = ("no active kiosk key for this device: pair the kiosk with a "
              "code an admin issues on the users page (POST /api/v1/kiosk/pairing-codes)")


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _id_free(registry: DeviceRegistry | None, device_id: str) -> None:
    if registry is not None and registry.holds_other_device(device_id):
        raise ApiRefusal(status.HTTP_409_CONFLICT,
                         f"{device_id} is a device of its own (MQTT); choose another id for the "
                         "browser kiosk", ErrorCode.DEVICE_ID_IN_USE, {"device": device_id})


async def kiosk_key(
    request: Request,
    keys: KioskKeys,
    registry: Registry,
    device: Annotated[str, Header(alias="X-Kiosk-Device", max_length=63)] = "",
    key: Annotated[str, Header(alias="X-Kiosk-Key", max_length=200)] = "",
) -> KioskKey:
    """The active key of the browser kiosk presenting it; the kiosk is seen (presence)."""
    try:
        found = await keys.authenticate(device, key, _address(request))
    except KioskThrottled as exc:
        wait_s = max(1, round(exc.retry_after_s))
        raise ApiRefusal(status.HTTP_429_TOO_MANY_REQUESTS, str(exc), ErrorCode.KIOSK_THROTTLED,
                         {"retry_after_s": wait_s}, headers={"Retry-After": str(wait_s)}) from exc
    except KioskRefused as exc:
        raise ApiRefusal(status.HTTP_401_UNAUTHORIZED, NOT_SET_UP,
                         ErrorCode.KIOSK_NOT_SET_UP) from exc
    try:
        if registry is not None:
            await registry.browser_kiosk_seen(device, found.name, now_ms())
    except HallError as exc:  # presence is for the dashboard; the visitor still gets served
        logger.warning("presence of browser kiosk %s not recorded: %s", device, exc)
    return found


async def kiosk_device(key: Annotated[KioskKey, Depends(kiosk_key)]) -> str:
    """The device id of the browser kiosk presenting its active key."""
    return key.device_id


Kiosk = Annotated[str, Depends(kiosk_device)]
KIOSK_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, wrong or revoked kiosk key"},
    429: {"model": ErrorOut, "description": "too many requests with this key or from this "
                                            "address; Retry-After says when to try again"}}
router = APIRouter(prefix="/kiosk", tags=["kiosk"])


@router.post("/keys", response_model=KeyCreatedOut, status_code=status.HTTP_201_CREATED,
             responses={409: {"model": ErrorOut, "description": "the id is an MQTT device's"}})
async def create_key(principal: AdminOnly, keys: KioskKeys, registry: Registry,
                     body: KeyIn) -> KeyCreatedOut:
    """Create a key for a browser kiosk (admin). The key is in this answer once; only its hash
    is kept. Enter it once on the kiosk screen (or issue a pairing code instead)."""
    _id_free(registry, body.device_id)
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


def _code_out(code: PairingCode) -> PairingCodeOut:
    return PairingCodeOut(device_id=code.device_id, name=code.name, created_ms=code.created_ms,
                          created_by=code.created_by, expires_ms=code.expires_ms,
                          state=code.state(now_ms()).value, used_ms=code.used_ms,
                          used_from=code.used_from)


@router.post("/pairing-codes", response_model=PairingCodeCreatedOut,
             status_code=status.HTTP_201_CREATED,
             responses={409: {"model": ErrorOut, "description": "the id is an MQTT device's"}})
async def issue_pairing_code(principal: AdminOnly, pairing: Pairing, registry: Registry,
                             body: PairingCodeIn) -> PairingCodeCreatedOut:
    """A one-time pairing code for a browser kiosk (admin): 8 characters, valid for 10
    minutes, once. Type it on the kiosk's setup screen; the kiosk gets its key. Only a hash of
    the code is kept; the code's record says who issued it and where it was used."""
    _id_free(registry, body.device_id)
    issued = await pairing.issue(body.device_id, body.name, principal.name)
    return PairingCodeCreatedOut(**_code_out(issued.code).model_dump(), code=issued.plaintext)


@router.get("/pairing-codes", response_model=list[PairingCodeOut])
async def list_pairing_codes(_: AdminOnly, pairing: Pairing) -> list[PairingCodeOut]:
    """The 50 newest pairing codes (admin): pending, used (when, from where) or expired;
    never the codes themselves."""
    return [_code_out(code) for code in await pairing.recent()]


@router.post("/pair", response_model=PairedOut, responses={
    404: {"model": ErrorOut, "description": "kiosk.pairing_code_unknown"},
    410: {"model": ErrorOut, "description": "kiosk.pairing_code_expired or kiosk.pairing_code_used"},
    429: {"model": ErrorOut, "description": "too many wrong codes from this address; "
                                            "Retry-After says when to try again"}})
async def pair(request: Request, pairing: Pairing, body: PairIn) -> PairedOut:
    """Trade a pairing code for the kiosk's key (no login: the code is the proof). A wrong,
    used or expired code is refused with its reason first in ``detail``; ten wrong codes from
    an address within ten minutes hold it off (429)."""
    try:
        issued = await pairing.pair(body.code, _address(request))
    except PairingThrottled as exc:
        wait_s = max(1, round(exc.retry_after_s))
        raise ApiRefusal(status.HTTP_429_TOO_MANY_REQUESTS, str(exc),
                         ErrorCode.KIOSK_PAIRING_THROTTLED, {"retry_after_s": wait_s},
                         headers={"Retry-After": str(wait_s)}) from exc
    except PairingRefused as exc:
        code = _PAIRING_REFUSALS.get(exc.reason, ErrorCode.KIOSK_PAIRING_CODE_UNKNOWN)
        http_status = (status.HTTP_404_NOT_FOUND if code is ErrorCode.KIOSK_PAIRING_CODE_UNKNOWN
                       else status.HTTP_410_GONE)
        raise ApiRefusal(http_status, str(exc), code) from exc
    return PairedOut(device_id=issued.key.device_id, name=issued.key.name,
                     kiosk_key=issued.plaintext)


@router.get("/status", response_model=StatusOut, responses=KIOSK_REFUSALS)
async def kiosk_status(key: Annotated[KioskKey, Depends(kiosk_key)]) -> StatusOut:
    """Who this kiosk is; the kiosk page calls it every 30 s, which keeps it online in the
    device list and tells the page whether the server is there."""
    return StatusOut(device_id=key.device_id, name=key.name)


@router.get("/services", response_model=list[ServiceOut], responses=KIOSK_REFUSALS)
async def services(_: Kiosk, tickets: Tickets) -> list[ServiceOut]:
    """The services a visitor can take a ticket for."""
    return [ServiceOut(code=s.code, name=s.name, name_en=s.name_en, prefix=s.prefix)
            for s in tickets.settings.services]


@router.post("/tickets", response_model=TakeOut, responses={
    **KIOSK_REFUSALS,
    404: {"model": ErrorOut, "description": "unknown service, or identity.unknown: the card or "
                                            "code names no one the hall knows"},
    409: {"model": ErrorOut, "description": "the hall is closed or the day's cap is reached"},
    503: {"model": ErrorOut, "description": "the ticket store is unavailable; retry"}})
async def take(device_id: Kiosk, tickets: Tickets, body: TakeIn) -> TakeOut:
    """Take a ticket, as ``ticket.take`` over MQTT does (a card or QR code read by the kiosk
    links the visitor's open cases)."""
    params: dict[str, Any] = {"service": body.service}
    if body.identity is not None:
        params["identity"] = body.identity.model_dump()
    try:
        reply = await tickets.take(device_id, None, params, body.request_id,
                                   refuse_unknown_identity=True)
    except RequestError as exc:
        status_code, code = _REFUSALS.get(exc.code, (status.HTTP_400_BAD_REQUEST, ErrorCode.INVALID))
        raise ApiRefusal(status_code, f"{exc.code}: {exc.message}", code,
                         {"service": body.service}) from exc
    defs = {s.code: s for s in tickets.settings.services}
    served = defs.get(reply["service"])
    return TakeOut(ticket=reply["ticket"], ticket_id=reply["ticket_id"],
                   service=reply["service"],
                   service_name=served.name if served else reply["service"],
                   service_name_en=served.name_en if served else "",
                   waiting_ahead=reply["waiting_ahead"],
                   estimated_wait_s=reply["estimated_wait_s"], issued_to=device_id,
                   cases=reply["cases"], checked_in=bool(reply.get("checked_in", False)),
                   windows=_serving(tickets, reply["service"]))


def _serving(tickets: TicketService, service: str) -> list[WindowOut]:
    """The configured windows that serve ``service``, the ones that prefer it first."""
    serving = [w for w in tickets.settings.windows if service in w.services]
    serving.sort(key=lambda w: (-w.services[service], w.number))
    return [WindowOut(window_id=w.window_id, number=w.number) for w in serving]
