"""The online platform's integration: API keys, the case event feed, webhooks, one-trip rate.

Keys and webhooks are managed by admins (a login); the platform itself calls with an API key
whose scopes say what it may do. docs/integration.md is the platform developers' guide.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from api.auth import AdminOnly, Principal, api_key_scheme, require_scope
from api.params import NO_NUL, Cursor, IdFilter, Limit, RowId, invalid, millis_query
from api.schemas import ErrorOut, Millis
from api.services import provide
from devices.contract import now_ms
from hall_controller.cases.destinations import DestinationRefused, DestinationUnresolved
from hall_controller.cases.integration_keys import ApiKeyService
from hall_controller.cases.rules import (
    ApiKey,
    CaseEvent,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Scope,
    Webhook,
)
from hall_controller.cases.service import MAX_FEED_LIMIT, CaseService
from hall_controller.cases.webhooks import MIN_SECRET_LENGTH, WebhookService

DAY_MS = 86_400_000

Cases = Annotated[CaseService, Depends(provide(CaseService))]
Webhooks = Annotated[WebhookService, Depends(provide(WebhookService))]
ApiKeys = Annotated[ApiKeyService, Depends(provide(ApiKeyService))]
EventsReader = Annotated[Principal, Depends(require_scope(Scope.EVENTS_READ.value))]
CasesReader = Annotated[Principal, Depends(require_scope(Scope.CASES_READ.value))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "unknown"}}

router = APIRouter(prefix="/integration", tags=["integration"],
                   dependencies=[Depends(api_key_scheme)])


# --- API keys ----------------------------------------------------------------------------------


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=NO_NUL,
                      description="who the key is for, e.g. 'online-platform-prod'")
    scopes: list[Scope] = Field(min_length=1, description="cases:read, cases:write, events:read")


class ApiKeyOut(BaseModel):
    key_id: str
    name: str
    scopes: list[Scope]
    created_ms: Millis
    created_by: str
    revoked_ms: Millis | None
    active: bool

    @classmethod
    def build(cls, key: ApiKey) -> ApiKeyOut:
        return cls(key_id=key.key_id, name=key.name, scopes=sorted(key.scopes),
                   created_ms=key.created_ms, created_by=key.created_by,
                   revoked_ms=key.revoked_ms, active=key.active)


class ApiKeyCreatedOut(ApiKeyOut):
    api_key: str = Field(description="the key itself: shown this once, store it safely")


@router.post("/keys", response_model=ApiKeyCreatedOut, status_code=status.HTTP_201_CREATED)
async def create_api_key(body: ApiKeyIn, principal: AdminOnly,
                         api_keys: ApiKeys) -> ApiKeyCreatedOut:
    """Create an API key (admin). The key is in the answer once; only its hash is kept."""
    issued = await api_keys.create(body.name, body.scopes, principal.name)
    return ApiKeyCreatedOut(**ApiKeyOut.build(issued.key).model_dump(), api_key=issued.plaintext)


@router.get("/keys", response_model=list[ApiKeyOut])
async def list_api_keys(_: AdminOnly, api_keys: ApiKeys) -> list[ApiKeyOut]:
    """Every API key, revoked ones included (admin); never the keys themselves."""
    return [ApiKeyOut.build(k) for k in await api_keys.list_keys()]


@router.delete("/keys/{key_id}", response_model=ApiKeyOut, responses=NOT_FOUND)
async def revoke_api_key(key_id: Annotated[str, Path(max_length=64)], principal: AdminOnly,
                         api_keys: ApiKeys) -> ApiKeyOut:
    """Revoke a key (admin): refused from the next request on. Revoking twice is harmless."""
    return ApiKeyOut.build(await api_keys.revoke(key_id, principal.name))


# --- the event feed ----------------------------------------------------------------------------


class CaseEventOut(BaseModel):
    id: int = Field(description="strictly increasing; the feed's cursor")
    type: str
    case_id: str
    at_ms: Millis
    data: dict[str, Any]

    @classmethod
    def build(cls, event: CaseEvent) -> CaseEventOut:
        return cls(id=event.id, type=event.type.value, case_id=event.case_id,
                   at_ms=event.at_ms, data=event.data)


class EventPageOut(BaseModel):
    events: list[CaseEventOut]
    next_cursor: int = Field(description="pass as `after` to get the events after these")


@router.get("/events", response_model=EventPageOut)
async def case_events(
    _: EventsReader, cases: Cases,
    after: Cursor = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_FEED_LIMIT)] = 100,
    case_id: Annotated[str | None, Query(max_length=128,
                                         description="only this case's events")] = None,
) -> EventPageOut:
    """Case events after the cursor, oldest first. Nothing is ever skipped: an event becomes
    visible only after every event with a smaller id."""
    page = await cases.events_after(after, limit, case_id)
    return EventPageOut(events=[CaseEventOut.build(e) for e in page.events],
                        next_cursor=page.next_cursor)


# --- statistics --------------------------------------------------------------------------------


class OneTripOut(BaseModel):
    from_ms: Millis
    to_ms: Millis
    resolved_with_visit: int = Field(description="cases resolved in the period after ≥ 1 visit")
    one_visit: int = Field(description="... of which with exactly one visit")
    rate: float | None = Field(description="one_visit / resolved_with_visit; null if none")


@router.get("/stats/one-trip", response_model=OneTripOut)
async def one_trip_rate(
    _: CasesReader, cases: Cases,
    from_ms: Annotated[int | None, millis_query("ms; default 30 days before `to`",
                                                alias="from")] = None,
    to_ms: Annotated[int | None, millis_query("ms; default now", alias="to")] = None,
) -> OneTripOut:
    """The one-trip rate (只跑一次) over the cases resolved in [from, to)."""
    to = now_ms() if to_ms is None else to_ms
    start = to - 30 * DAY_MS if from_ms is None else from_ms
    counts = await cases.one_trip(start, to)
    return OneTripOut(from_ms=start, to_ms=to, resolved_with_visit=counts.resolved_with_visit,
                      one_visit=counts.one_visit, rate=counts.rate)


# --- webhooks ----------------------------------------------------------------------------------


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(description="where case events are POSTed")
    secret: str | None = Field(
        default=None, min_length=MIN_SECRET_LENGTH, max_length=256, pattern=r"^[\x21-\x7e]+$",
        description="HMAC key for X-Hall-Signature; generated when omitted")
    description: str = Field(default="", max_length=200, pattern=NO_NUL)

    @field_validator("url")
    @classmethod
    def _http_or_https(cls, value: HttpUrl) -> HttpUrl:
        if value.scheme not in ("http", "https"):
            raise ValueError("the webhook URL must be http or https")
        return value


class WebhookOut(BaseModel):
    id: int
    url: str
    description: str
    active: bool
    created_ms: Millis
    created_by: str

    @classmethod
    def build(cls, webhook: Webhook) -> WebhookOut:
        return cls(id=webhook.id, url=webhook.url, description=webhook.description,
                   active=webhook.active, created_ms=webhook.created_ms,
                   created_by=webhook.created_by)


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="the signing secret: shown this once")


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: bool


class DeliveryOut(BaseModel):
    id: int
    webhook_id: int
    event_id: int
    status: DeliveryStatus
    attempts: int
    created_ms: Millis
    next_attempt_ms: Millis | None
    last_status_code: int | None
    last_error: str | None
    delivered_ms: Millis | None

    @classmethod
    def build(cls, d: Delivery) -> DeliveryOut:
        return cls(id=d.id, webhook_id=d.webhook_id, event_id=d.event_id, status=d.status,
                   attempts=d.attempts, created_ms=d.created_ms,
                   next_attempt_ms=d.next_attempt_ms, last_status_code=d.last_status_code,
                   last_error=d.last_error, delivered_ms=d.delivered_ms)


class AttemptOut(BaseModel):
    attempt: int
    at_ms: Millis
    duration_ms: int
    status_code: int | None
    error: str | None
    result: DeliveryStatus
    next_attempt_ms: Millis | None

    @classmethod
    def build(cls, a: DeliveryAttempt) -> AttemptOut:
        return cls(attempt=a.attempt, at_ms=a.at_ms, duration_ms=a.duration_ms,
                   status_code=a.status_code, error=a.error, result=a.result,
                   next_attempt_ms=a.next_attempt_ms)


class DeliveryDetailOut(DeliveryOut):
    attempt_log: list[AttemptOut]


@router.post("/webhooks", response_model=WebhookCreatedOut, status_code=status.HTTP_201_CREATED)
async def register_webhook(body: WebhookIn, principal: AdminOnly,
                           webhooks: Webhooks) -> WebhookCreatedOut:
    """Register a webhook (admin). Events appended from now on are delivered to it, signed
    with the secret (the given one, or a generated one shown here once).

    A URL whose host is, or resolves to, a loopback, private, link-local, carrier-grade NAT,
    multicast, reserved or cloud metadata address is a 422 naming the reason, unless the
    configured allow-list (``[integration] webhook_allow``) names it; so is a host that does
    not resolve."""
    url = str(body.url)
    try:
        registered = await webhooks.register(url, body.secret, body.description,
                                             principal.name)
    except DestinationRefused as exc:
        raise invalid("body", "url", f"webhook destination refused ({exc.reason}): {exc}; an "
                      "internal receiver must be named in [integration] webhook_allow",
                      url) from None
    except DestinationUnresolved as exc:
        raise invalid("body", "url", f"webhook destination unresolved: {exc}", url) from None
    return WebhookCreatedOut(**WebhookOut.build(registered.webhook).model_dump(),
                             secret=registered.secret)


@router.get("/webhooks", response_model=list[WebhookOut])
async def list_webhooks(_: AdminOnly, webhooks: Webhooks) -> list[WebhookOut]:
    """Registered webhooks (admin), without their secrets."""
    return [WebhookOut.build(w) for w in await webhooks.list_webhooks()]


@router.patch("/webhooks/{webhook_id}", response_model=WebhookOut, responses=NOT_FOUND)
async def update_webhook(webhook_id: RowId, body: WebhookPatch, _: AdminOnly,
                         webhooks: Webhooks) -> WebhookOut:
    """Switch a webhook off (no new deliveries, pending ones wait) or back on (admin)."""
    return WebhookOut.build(await webhooks.set_active(webhook_id, body.active))


@router.get("/webhooks/deliveries", response_model=list[DeliveryOut])
async def list_deliveries(
    _: EventsReader, webhooks: Webhooks,
    webhook_id: IdFilter = None,
    event_id: IdFilter = None,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: Limit = 100,
) -> list[DeliveryOut]:
    """The delivery log, newest first: attempts, last status code, next attempt, delivered."""
    deliveries = await webhooks.deliveries(webhook_id=webhook_id, event_id=event_id,
                                           status=status_, limit=limit)
    return [DeliveryOut.build(d) for d in deliveries]


@router.get("/webhooks/deliveries/{delivery_id}", response_model=DeliveryDetailOut,
            responses=NOT_FOUND)
async def get_delivery(delivery_id: RowId, _: EventsReader,
                       webhooks: Webhooks) -> DeliveryDetailOut:
    """One delivery with every attempt made."""
    delivery, attempts = await webhooks.delivery(delivery_id)
    return DeliveryDetailOut(**DeliveryOut.build(delivery).model_dump(),
                             attempt_log=[AttemptOut.build(a) for a in attempts])


@router.post("/webhooks/deliveries/{delivery_id}/redeliver", response_model=DeliveryOut,
             responses=NOT_FOUND)
async def redeliver(delivery_id: RowId, _: AdminOnly, webhooks: Webhooks) -> DeliveryOut:
    """Make a failed delivery due again now (admin); a delivered one is left as it is."""
    return DeliveryOut.build(await webhooks.redeliver(delivery_id))
