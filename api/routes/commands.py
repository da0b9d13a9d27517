"""Commands to devices: send one and follow it, and the command history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from api.auth import Facilities
from api.params import DeviceId, Limit
from api.schemas import CommandIn, CommandOut, ErrorOut
from api.services import provide
from hall_controller.fleet.commands import CommandService
from hall_controller.fleet.rules import NOTE_REQUIRED_METHODS
from hall_controller.fleet.views import FleetViews
from hall_controller.kernel.errors import NoteRequired

Fleet = Annotated[FleetViews, Depends(provide(FleetViews))]
Commands = Annotated[CommandService, Depends(provide(CommandService))]
router = APIRouter(tags=["commands"])


@router.post(
    "/devices/{device_id}/commands", response_model=CommandOut,
    responses={
        202: {"model": CommandOut, "description": "sent, not waited for (wait=false)"},
        404: {"model": ErrorOut, "description": "unknown device"},
        409: {"model": ErrorOut, "description": "the device is offline"},
        422: {"model": ErrorOut, "description": "a reboot without a note (code note.required)"},
    },
)
async def send_command(
    commands: Commands, principal: Facilities, device_id: DeviceId, body: CommandIn,
    response: Response,
) -> CommandOut:
    """Send a command to a device and, unless ``wait`` is false, wait for its ack.

    ``status`` in the reply says how it ended: ``succeeded``, ``failed`` (the device's reason is
    in ``error``), ``timed_out``, or ``sent`` when not waited for (HTTP 202). ``note`` says
    why (kept in the history); a ``device.reboot`` needs one.
    """
    note = (body.note or "").strip() or None
    if note is None and body.method in NOTE_REQUIRED_METHODS:
        raise NoteRequired(f"{body.method} needs a note of why in 'note'")
    record = await commands.send(
        device_id, body.method, body.params, principal.name,
        wait=body.wait, timeout_s=body.timeout_s, note=note,
    )
    if not body.wait:
        response.status_code = status.HTTP_202_ACCEPTED
    return CommandOut.build(record)


@router.get("/devices/{device_id}/commands", response_model=list[CommandOut],
            responses={404: {"model": ErrorOut, "description": "unknown device"}})
async def command_history(
    fleet: Fleet, _: Facilities, device_id: DeviceId,
    limit: Limit = 100,
    automatic: Annotated[bool, Query(
        description="include the commands the controller sent by itself (a display's calls "
                    "and waiting list every few seconds); false: only those people sent")] = True,
) -> list[CommandOut]:
    """The commands sent to a device, newest first."""
    return [CommandOut.build(c)
            for c in await fleet.commands(device_id, limit, automatic=automatic)]


@router.get("/commands/{command_id}", response_model=CommandOut,
            responses={404: {"model": ErrorOut, "description": "unknown command"}})
async def get_command(
    fleet: Fleet, _: Facilities, command_id: Annotated[str, Path(max_length=64)],
) -> CommandOut:
    """One command and how it ended (or ``sent`` while it waits for its ack)."""
    return CommandOut.build(await fleet.command(command_id))
