"""What the queue displays of an area announce: each call, and the waiting list after it.

Displays are told after a move is stored, from background tasks the announcer owns (and the
clerk service closes): a slow or offline display never holds up the clerk, and a command that
cannot be sent is logged, never raised to the window terminal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Coroutine, Iterable
from typing import Any, Protocol

from devices.kinds import DeviceKind
from hall_controller.fleet.model import DeviceRecord
from hall_controller.fleet.ports import CommandSender
from hall_controller.kernel.errors import HallError
from hall_controller.queue.model import ServiceDef, Ticket, WindowDef

logger = logging.getLogger(__name__)
# Who the command history says sent a call or a waiting list: the controller itself ("system:"
# marks it automatic, fleet/model.py is_automatic), so the facilities page can hide them.
DISPLAY_REQUESTER = "system:queue-display"

# What displays announce, by language; {ticket} "A012", {window} the window's number.
CALL_TEXT = {
    "zh-CN": "请 {ticket} 号到 {window} 号窗口办理",
    "en": "Number {ticket}, please go to window {window}",
}


class DeviceDirectory(Protocol):
    """Where the displays of an area are found (``DeviceRegistry`` implements it)."""

    def all(self) -> list[DeviceRecord]: ...


class DisplaySettings(Protocol):
    """What the announcer reads of the clerk's settings (``ClerkSettings``)."""

    @property
    def windows(self) -> tuple[WindowDef, ...]: ...
    @property
    def services(self) -> tuple[ServiceDef, ...]: ...
    @property
    def lang(self) -> str: ...
    @property
    def queue_preview(self) -> int: ...


class WaitingTickets(Protocol):
    """The one thing the announcer reads from the move store."""

    async def waiting_for(self, service_codes: Collection[str], service_day: str) -> list[Ticket]: ...


class DisplayAnnouncer:
    """Sends ``display.call`` and ``display.queue`` to the online displays of an area.

    Without ``devices`` and ``commands`` it announces nothing, but still answers
    ``waiting_list`` (the live pages show the same board).
    """

    def __init__(
        self, settings: DisplaySettings, tickets: WaitingTickets, today: Callable[[], str], *,
        devices: DeviceDirectory | None = None, commands: CommandSender | None = None,
    ) -> None:
        """``today`` is the queue's current service day."""
        self._settings = settings
        # The names on the waiting list; a service without one shows its code.
        self._service_names = {s.code: s.name for s in settings.services}
        self._tickets = tickets
        self._today = today
        self._devices = devices
        self._commands = commands
        self._announcements: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        """Cancel announcements still in flight (the controller is stopping)."""
        for task in list(self._announcements):
            task.cancel()
        await asyncio.gather(*self._announcements, return_exceptions=True)

    async def drain(self) -> None:
        """Wait until every announcement started so far is sent (tests, orderly shutdown)."""
        while self._announcements:
            await asyncio.gather(*list(self._announcements), return_exceptions=True)

    def call_params(self, window: WindowDef, ticket: Ticket) -> dict[str, object]:
        """The ``display.call`` parameters for a call of ``ticket`` to ``window``."""
        text = CALL_TEXT[self._settings.lang].format(ticket=ticket.number, window=window.number)
        return {"ticket": ticket.number, "window": window.number, "text": text,
                "lang": self._settings.lang}

    async def waiting_list(self, area: str) -> dict[str, object]:
        """The ``display.queue`` parameters for ``area``: the next waiting numbers of each
        service its windows serve, in arrival order."""
        codes = _ordered_unique(c for w in self._settings.windows if w.area == area for c in w.services)
        waiting = await self._tickets.waiting_for(codes, self._today())
        services: list[dict[str, object]] = []
        for code in codes:
            numbers = [t.number for t in waiting if t.service_code == code]
            services.append({"service": code, "name": self._service_names.get(code, code),
                             "waiting": len(numbers), "next": numbers[:self._settings.queue_preview]})
        return {"area": area, "services": services, "lang": self._settings.lang}

    def announce(self, window: WindowDef, ticket: Ticket) -> None:
        """Tell the area's displays about the call, then refresh their waiting list."""
        if self._commands is None:
            return
        self._start(self._announce_call(window, ticket),
                    f"announce-{window.window_id}-{ticket.number}")

    def refresh_waiting_lists(self, service_codes: Iterable[str]) -> None:
        """Refresh the waiting list of every area a window of these services is in."""
        if self._commands is None:
            return
        codes = set(service_codes)
        for area in sorted({w.area for w in self._settings.windows if codes & set(w.services)}):
            self._start(self._send_waiting_list(area), f"waiting-list-{area}")

    def _start(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._announcements.add(task)
        task.add_done_callback(self._announcements.discard)

    def _displays(self, area: str) -> list[DeviceRecord]:
        if self._devices is None:
            return []
        displays = [d for d in self._devices.all()
                    if d.kind is DeviceKind.QUEUE_DISPLAY and d.site == area]
        for display in displays:
            if not display.online:
                logger.info("display %s (%s) is offline; skipped", display.device_id, area,
                            extra={"device_id": display.device_id, "area": area})
        return [d for d in displays if d.online]

    async def _announce_call(self, window: WindowDef, ticket: Ticket) -> None:
        try:
            params = self.call_params(window, ticket)
            displays = self._displays(window.area)
            if not displays:
                logger.warning("no online display in %s to announce %s at window %s",
                               window.area, ticket.number, window.number,
                               extra={"area": window.area, "ticket_id": ticket.ticket_id})
            await asyncio.gather(*(self._send(d.device_id, "display.call", params)
                                   for d in displays))
            await self._send_waiting_list(window.area)
        except Exception:
            logger.exception("announcing %s at window %s failed", ticket.number, window.number)

    async def _send_waiting_list(self, area: str) -> None:
        try:
            displays = self._displays(area)
            if not displays:
                return
            params = await self.waiting_list(area)
            await asyncio.gather(*(self._send(d.device_id, "display.queue", params)
                                   for d in displays))
        except Exception:
            logger.exception("waiting list of %s not sent", area)

    async def _send(self, device_id: str, method: str, params: dict[str, object]) -> None:
        assert self._commands is not None
        try:
            # wait=False: stored and published, not waited for; the ack lands on the record.
            await self._commands.send(device_id, method, params, DISPLAY_REQUESTER, wait=False)
        except HallError as exc:  # went offline meanwhile, or the store refused the record
            logger.warning("%s to %s not sent: %s", method, device_id, exc,
                           extra={"device_id": device_id})


def _ordered_unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
