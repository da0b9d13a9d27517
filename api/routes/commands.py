"""Commands to devices: send one and follow it, and the command history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from api.auth import Facilities
from api.context import Context
from api.params import DeviceId, Limit
from api.schemas import CommandIn, CommandOut, ErrorOut
from hall_controller.kernel.errors import NotFound

router = APIRouter(tags=["commands"])


@router.post(
    "/devices/{device_id}/commands", response_model=CommandOut,
    responses={
        202: {"model": CommandOut, "description": "sent, not waited for (wait=false)"},
        404: {"model": ErrorOut, "description": "unknown device"},
        409: {"model": ErrorOut, "description": "the device is offline"},
    },
)
async def send_command(
    ctx: Context, principal: Facilities, device_id: DeviceId, body: CommandIn, response: Response,
) -> CommandOut:
    """Send a command to a device and, unless ``wait`` is false, wait for its ack.

    ``status`` in the reply says how it ended: ``succeeded``, ``failed`` (the device's reason is
    in ``error``), ``timed_out``, or ``sent`` when not waited for (HTTP 202).
    """
    record = await ctx.commands.send(
        device_id, body.method, body.params, principal.name,
        wait=body.wait, timeout_s=body.timeout_s,
    )
    if not body.wait:
        response.status_code = status.HTTP_202_ACCEPTED
    return CommandOut.build(record)


@router.get("/devices/{device_id}/commands", response_model=list[CommandOut],
            responses={404: {"model": ErrorOut, "description": "unknown device"}})
async def command_history(
    ctx: Context, _: Facilities, device_id: DeviceId,
    limit: Limit = 100,
) -> list[CommandOut]:
    """The commands sent to a device, newest first."""
    if await ctx.store.get_device(device_id) is None:
        raise NotFound(f"unknown device {device_id!r}")
    return [CommandOut.build(c) for c in await ctx.store.list_commands(device_id, limit)]


@router.get("/commands/{command_id}", response_model=CommandOut,
            responses={404: {"model": ErrorOut, "description": "unknown command"}})
async def get_command(
    ctx: Context, _: Facilities, command_id: Annotated[str, Path(max_length=64)],
) -> CommandOut:
    """One command and how it ended (or ``sent`` while it waits for its ack)."""
    record = await ctx.store.get_command(command_id)
    if record is None:
        raise NotFound(f"unknown command {command_id!r}")
    return CommandOut.build(record)
