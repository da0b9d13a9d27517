"""Live updates for the pages, as server-sent events (``text/event-stream``).

- ``GET /live/display``: ticket moves (calls, recalls, starts, ...), with the window's number.
  No login: it is the public display's feed and carries numbers and windows only, no people.
- ``GET /live/display/snapshot``: what a display shows right now (current calls per window,
  waiting counts per service), to draw before the first notice and after a ``resync``.
- ``GET /live/facilities``: device presence and alarm changes (facilities role).

The facilities stream is authenticated with the ordinary ``Authorization: Bearer`` header: the
pages read streams with ``fetch`` rather than ``EventSource`` precisely so that they can send
it. A token in the query string (all ``EventSource`` allows) would land in access logs, proxy
logs and the browser history; a cookie would open the API to cross-site requests.

Every stream starts with ``retry`` and a ``hello`` event, sends a ``: ping`` comment every
15 s of silence (so dead connections are noticed on both sides), passes ``resync`` notices on
(the page must re-read: something was missed), and ends when the server stops.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Collection
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.auth import Facilities
from api.schemas import Millis
from api.services import provide, provide_optional
from devices.contract import now_ms
from hall_controller.live.hub import FeedClosed, LiveHub, LiveNotice
from hall_controller.queue.clerk import ClerkService
from hall_controller.queue.model import TicketState

PING_S = 15.0
RETRY_MS = 1000
DISPLAY_TOPICS = frozenset({"ticket"})
FACILITIES_TOPICS = frozenset({"device", "alarm"})
_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# What the public display may see of a ticket notice.
_PUBLIC_TICKET_FIELDS = ("ticket_id", "number", "service", "from", "to", "window_id", "recalls",
                         "at_ms")


class LiveSubscription(Protocol):
    async def next(self, timeout_s: float) -> LiveNotice | None: ...

    def close(self) -> None: ...


class LiveSource(Protocol):
    """Where notices come from (``LiveHub``, fed by ``PostgresLiveFeed`` in the controller)."""

    def subscribe(self, topics: Collection[str]) -> LiveSubscription: ...


def sse_event(event: str, data: dict[str, Any]) -> str:
    """One server-sent event; JSON has no raw newlines, so one ``data:`` line is enough."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


async def event_stream(source: LiveSource, topics: Collection[str],
                       shape: Callable[[LiveNotice], dict[str, Any] | None],
                       ping_s: float = PING_S) -> AsyncIterator[str]:
    """The SSE text of one subscriber until the feed closes (or the client goes away, when the
    server cancels this generator)."""
    subscription = source.subscribe(topics)
    try:
        yield f"retry: {RETRY_MS}\n" + sse_event("hello", {"server_ms": now_ms()})
        while True:
            try:
                notice = await subscription.next(ping_s)
            except FeedClosed:
                return
            if notice is None:
                yield ": ping\n\n"
                continue
            data = shape(notice)
            if data is not None:
                yield sse_event(notice.topic, data)
    finally:
        subscription.close()


class CallOut(BaseModel):
    ticket_id: str
    number: str
    service: str
    state: TicketState
    window_id: str
    window: int = Field(description="the window's number, as announced")
    called_ms: Millis | None
    recalls: int


class WindowBoardOut(BaseModel):
    window_id: str
    number: int
    area: str
    open: bool
    current: CallOut | None


class ServiceBoardOut(BaseModel):
    code: str
    name: str
    name_en: str = Field(description="the name on a display switched to English")
    waiting: int


class DisplaySnapshotOut(BaseModel):
    server_ms: Millis
    windows: list[WindowBoardOut]
    services: list[ServiceBoardOut]


Hub = Annotated[LiveHub, Depends(provide(LiveHub))]
# The windows (the window terminal's service) name the window numbers and serve the display
# snapshot; without them the snapshot is empty.
Windows = Annotated[ClerkService | None, Depends(provide_optional(ClerkService))]
router = APIRouter(prefix="/live", tags=["live"])


def public_ticket_shape(clerk: ClerkService | None) -> Callable[[LiveNotice], dict[str, Any] | None]:
    """What the public display sees of a notice: a ticket's numbers and window, no people."""
    numbers = {} if clerk is None else {w.window_id: w.number for w in clerk.windows()}

    def public_ticket(notice: LiveNotice) -> dict[str, Any] | None:
        if notice.topic != "ticket":
            return dict(notice.data)   # resync
        data = {k: notice.data.get(k) for k in _PUBLIC_TICKET_FIELDS}
        data["window"] = numbers.get(str(data["window_id"]))
        return data

    return public_ticket


@router.get("/display", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "ticket events (calls), no login"}})
async def display_stream(source: Hub, clerk: Windows) -> StreamingResponse:
    """Ticket moves for the public display and the window terminal (server-sent events)."""
    return StreamingResponse(event_stream(source, DISPLAY_TOPICS, public_ticket_shape(clerk)),
                             media_type="text/event-stream", headers=_STREAM_HEADERS)


@router.get("/facilities", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "device presence and alarm events"}})
async def facilities_stream(_: Facilities, source: Hub) -> StreamingResponse:
    """Device presence and alarm changes (server-sent events; facilities role)."""
    return StreamingResponse(event_stream(source, FACILITIES_TOPICS, lambda n: dict(n.data)),
                             media_type="text/event-stream", headers=_STREAM_HEADERS)


@router.get("/display/snapshot", response_model=DisplaySnapshotOut)
async def display_snapshot(clerk: Windows) -> DisplaySnapshotOut:
    """What the display shows now: each window's current call and the waiting count of
    each service (no login; numbers only)."""
    if clerk is None:
        return DisplaySnapshotOut(server_ms=now_ms(), windows=[], services=[])
    names_en = {s.code: s.name_en for s in clerk.settings.services}
    windows = []
    for window in clerk.windows():
        status = await clerk.status(window.window_id)
        current = status.current
        windows.append(WindowBoardOut(
            window_id=window.window_id, number=window.number, area=window.area,
            open=status.session is not None and status.session.is_open,
            current=None if current is None else CallOut(
                ticket_id=current.ticket_id, number=current.number,
                service=current.service_code, state=current.state,
                window_id=window.window_id, window=window.number,
                called_ms=current.called_ms, recalls=current.recalls)))
    services: dict[str, ServiceBoardOut] = {}
    for area in sorted({w.area for w in clerk.windows()}):
        board = await clerk.waiting_list(area)
        for entry in board["services"]:  # type: ignore[attr-defined]
            code = str(entry["service"])
            name = str(entry["name"])
            services.setdefault(code, ServiceBoardOut(
                code=code, name=name, name_en=names_en.get(code) or name,
                waiting=int(entry["waiting"])))
    return DisplaySnapshotOut(server_ms=now_ms(), windows=windows,
                              services=list(services.values()))
