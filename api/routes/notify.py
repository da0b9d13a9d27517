"""Alarm notification: recipients and channels (admin), the on-call rota and maintenance
windows (facilities), each alarm's notification history, the delivery log, and the public
acknowledgement link.

Refused input is a 422 with the code ``notify.invalid``, naming the field and the rule's own
stable reason: ``{"detail": "...", "code": "notify.invalid", "params": {"field": "email",
"reason": "missing_address"}}``.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Response, status

from api.auth import AdminOnly, Facilities, Staff
from api.notify_schemas import (
    AckIn,
    AckOut,
    AlarmHistoryOut,
    ChannelsOut,
    DeliveryOut,
    HistoryOut,
    OverrideIn,
    OverrideOut,
    PersonOut,
    RecipientIn,
    RecipientOut,
    RotaOut,
    ShiftIn,
    ShiftOut,
    TrackOut,
    WindowIn,
    WindowOut,
)
from api.params import Limit, RowId
from api.refusal import ApiRefusal
from api.schemas import AlarmOut, ErrorOut
from api.services import provide
from hall_controller.fleet.model import AlarmSeverity
from hall_controller.fleet.views import FleetViews
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.notify.directory import NotifyDirectory
from hall_controller.notify.dispatch import DeliveryDispatcher
from hall_controller.notify.model import (
    DeliveryStatus,
    MaintenanceWindow,
    Override,
    Shift,
    TrackStatus,
)
from hall_controller.notify.rules import InvalidNotifyInput
from hall_controller.notify.service import NotificationService

Notifier = Annotated[NotificationService, Depends(provide(NotificationService))]
Directory = Annotated[NotifyDirectory, Depends(provide(NotifyDirectory))]
Dispatcher = Annotated[DeliveryDispatcher, Depends(provide(DeliveryDispatcher))]
Fleet = Annotated[FleetViews, Depends(provide(FleetViews))]
router = APIRouter(prefix="/notify", tags=["notify"])
REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"description": "refused input: detail, code, field"},
    404: {"model": ErrorOut, "description": "unknown id"},
}
T = TypeVar("T")


def refused(exc: InvalidNotifyInput) -> ApiRefusal:
    """A 422 naming the field and, as ``reason``, the rule's own stable code (the pages say
    each in words: words-notify.js)."""
    return ApiRefusal(422, str(exc), ErrorCode.NOTIFY_INVALID,
                      {"field": exc.field, "reason": exc.code})


async def _checked(call: Awaitable[T]) -> T:
    try:
        return await call
    except InvalidNotifyInput as exc:
        raise refused(exc) from None


# -- recipients and channels (admin)
@router.get("/recipients", response_model=list[RecipientOut])
async def list_recipients(directory: Directory, _: AdminOnly) -> list[RecipientOut]:
    """Everyone who may be notified, with their channels and addresses."""
    return [RecipientOut.build(r) for r in await directory.recipients()]


@router.get("/people", response_model=list[PersonOut])
async def people(directory: Directory, _: Facilities) -> list[PersonOut]:
    """Who can be put on the rota: names and roles only (addresses are for admins)."""
    return [PersonOut(id=r.id, name=r.name, role=r.role, active=r.active)
            for r in await directory.recipients()]


@router.post("/recipients", response_model=RecipientOut, status_code=201, responses=REFUSED)
async def add_recipient(directory: Directory, admin: AdminOnly,
                        body: RecipientIn) -> RecipientOut:
    """Add a recipient: a role (oncall, watcher, supervisor, facilities_manager), the sites
    and the lowest severity they hear about, and an address for each chosen channel."""
    return RecipientOut.build(await _checked(directory.save_recipient(None, body.draft(),
                                                                      admin.name)))


@router.put("/recipients/{recipient_id}", response_model=RecipientOut, responses=REFUSED)
async def update_recipient(directory: Directory, admin: AdminOnly, recipient_id: RowId,
                           body: RecipientIn) -> RecipientOut:
    """Replace a recipient (``active: false`` to stop notifying them; history keeps them)."""
    return RecipientOut.build(await _checked(directory.save_recipient(
        recipient_id, body.draft(), admin.name)))


@router.post("/recipients/{recipient_id}/test", status_code=202, responses=REFUSED)
async def test_recipient(notifier: Notifier, admin: AdminOnly,
                         recipient_id: RowId) -> dict[str, list[int]]:
    """Send a test message on each of the recipient's configured channels; the delivery log
    shows how each went."""
    return {"delivery_ids": await notifier.send_test(recipient_id, admin.name)}


@router.get("/channels", response_model=ChannelsOut)
async def channels(notifier: Notifier, _: Staff) -> ChannelsOut:
    """Which channels the hall has configured (their secrets stay in the config)."""
    s = notifier.settings
    return ChannelsOut(
        configured=sorted(notifier.channels), ack_links=bool(s.public_url),
        escalation_s={sev.value: list(s.escalation.after_s.get(sev, ())) for sev in AlarmSeverity},
        digest_severities=sorted(s.digest_severities))


@router.get("/deliveries", response_model=list[DeliveryOut])
async def deliveries(notifier: Notifier, _: Facilities,
                     status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
                     limit: Limit = 100) -> list[DeliveryOut]:
    """The delivery log, newest first."""
    found = await notifier.deliveries(status=status_, limit=limit)
    return [DeliveryOut.build(d) for d in found]


# -- rota and maintenance windows (facilities)
@router.get("/rota", response_model=RotaOut)
async def rota(directory: Directory, _: Staff,
               site: Annotated[str, Query(max_length=128)] = "") -> RotaOut:
    """The weekly shifts, the overrides from yesterday on, and who is on call now."""
    return RotaOut.build(await directory.shifts(), await directory.overrides(),
                         await directory.on_call_now(site))


@router.post("/rota/shifts", response_model=ShiftOut, status_code=201, responses=REFUSED)
async def add_shift(directory: Directory, who: Facilities, body: ShiftIn) -> ShiftOut:
    saved = await _checked(directory.add_shift(Shift(**body.model_dump()), who.name))
    return ShiftOut(**{**body.model_dump(), "id": saved.id})


@router.delete("/rota/shifts/{shift_id}", status_code=204, responses=REFUSED)
async def delete_shift(directory: Directory, who: Facilities, shift_id: RowId) -> Response:
    await directory.delete_shift(shift_id, who.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/rota/overrides", response_model=OverrideOut, status_code=201,
             responses=REFUSED)
async def add_override(directory: Directory, who: Facilities, body: OverrideIn) -> OverrideOut:
    """On that day (for that site, or all), these people are on call instead of the week's
    shifts."""
    saved = await _checked(directory.add_override(Override(**body.model_dump()), who.name))
    return OverrideOut(**{**body.model_dump(), "id": saved.id})


@router.delete("/rota/overrides/{override_id}", status_code=204, responses=REFUSED)
async def delete_override(directory: Directory, who: Facilities,
                          override_id: RowId) -> Response:
    await directory.delete_override(override_id, who.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/maintenance", response_model=list[WindowOut])
async def windows(directory: Directory, _: Staff) -> list[WindowOut]:
    """Maintenance windows ending in the last 7 days or later."""
    return [WindowOut.build(w) for w in await directory.windows()]


@router.post("/maintenance", response_model=WindowOut, status_code=201, responses=REFUSED)
async def add_window(directory: Directory, who: Facilities, body: WindowIn) -> WindowOut:
    """Hold notifications about one device or one site from ``starts_ms`` to ``ends_ms``
    (alarms are still recorded, marked as in maintenance)."""
    return WindowOut.build(await _checked(directory.add_window(
        MaintenanceWindow(**body.model_dump()), who.name)))


@router.post("/maintenance/{window_id}/end", response_model=WindowOut, responses=REFUSED)
async def end_window(directory: Directory, who: Facilities, window_id: RowId) -> WindowOut:
    """End a window now (one not started yet never runs)."""
    return WindowOut.build(await directory.end_window(window_id, who.name))


# -- alarms' notification history
@router.get("/alarms", response_model=list[TrackOut])
async def tracks(notifier: Notifier, _: Staff,
                 status_: Annotated[TrackStatus | None, Query(alias="status")] = None,
                 limit: Limit = 200) -> list[TrackOut]:
    """The alarms the notifier handled, newest first, with where each stands."""
    return [TrackOut.build(t) for t in await notifier.tracks(status_, limit)]


@router.get("/alarms/{alarm_id}", response_model=AlarmHistoryOut, responses=REFUSED)
async def alarm_history(notifier: Notifier, directory: Directory, fleet: Fleet, _: Staff,
                        alarm_id: RowId) -> AlarmHistoryOut:
    """One alarm with every notification and escalation step, and its deliveries."""
    alarm = await fleet.alarm(alarm_id)
    track = await notifier.track(alarm_id)
    names = {r.id: r.name for r in await directory.recipients()}
    return AlarmHistoryOut(
        alarm=AlarmOut.build(alarm), track=None if track is None else TrackOut.build(track),
        in_maintenance=track is not None and track.status is TrackStatus.MAINTENANCE,
        history=[HistoryOut.build(e, names) for e in await notifier.history(alarm_id)],
        deliveries=[DeliveryOut.build(d)
                    for d in await notifier.deliveries(alarm_id=alarm_id, limit=200)])


# -- the acknowledgement link (no login: the signed token is the permission)
@router.post("/ack/preview", response_model=AckOut, responses=REFUSED)
async def ack_preview(notifier: Notifier, body: AckIn) -> AckOut:
    """Which alarm a link acknowledges (the page shows it before the person confirms)."""
    alarm, _ = await _checked(notifier.link_alarm(body.token))
    return AckOut.build(alarm)


@router.post("/ack", response_model=AckOut, responses=REFUSED)
async def ack(notifier: Notifier, body: AckIn) -> AckOut:
    """Acknowledge the link's alarm (stops its escalation); twice is harmless."""
    return AckOut.build(await _checked(notifier.acknowledge_by_link(body.token)))
