"""Records of the service-hall queue (issue: queue and online-case engine).

Plain data shared by the queue rules (``queue/rules.py``), the ticket store and the API.
Every state change of a ticket is a ``TicketTransition`` with who did it and when, so waiting,
walking and service times come straight from the data (NovoSGA / TheQ style).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class TicketState(StrEnum):
    AWAITING_CHECKIN = "awaiting_checkin"  # taken remotely (指尖办), visitor not in the hall yet
    WAITING = "waiting"      # issued (or checked in, resumed, transferred): in the queue
    CALLED = "called"        # announced on the displays, visitor walking to the window
    SERVING = "serving"      # the clerk started serving
    PARKED = "parked"        # set aside by the clerk (e.g. fetching a document); can resume
    DONE = "done"            # completed (resolved, or pending materials: see outcome)
    NO_SHOW = "no_show"      # did not come after the configured number of recalls
    CANCELLED = "cancelled"  # withdrawn by the visitor or staff
    LAPSED = "lapsed"        # a remote ticket not checked in within its window


FINAL_STATES = frozenset({TicketState.DONE, TicketState.NO_SHOW, TicketState.CANCELLED,
                          TicketState.LAPSED})


class TicketSource(StrEnum):
    KIOSK = "kiosk"
    REMOTE = "remote"   # online platform / API, before arriving
    COUNTER = "counter"  # issued by staff


@dataclass(frozen=True, slots=True)
class ServiceDef:
    """A service the hall offers (e.g. A: student ID card)."""

    code: str                      # "student-id"
    name: str                      # "学生证补办"
    prefix: str                    # "A" → A001, A002, ...
    first_number: int = 1          # daily number range
    last_number: int = 999
    daily_cap: int | None = None   # at most this many tickets a day (None: the range is the cap)
    target_wait_s: int = 15 * 60   # service level target
    name_en: str = ""              # "Student ID card", for pages switched to English ("": name)


WINDOW_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
"""What a window id may look like (``w3``): the config and the API's paths accept only these."""


@dataclass(frozen=True, slots=True)
class WindowDef:
    """A service window and what it serves, with weights (skills routing)."""

    window_id: str                 # "w3"
    number: int                    # the number announced: "3 号窗口"
    services: dict[str, int]       # service code → weight (higher: preferred)
    area: str = "main-hall"        # displays of this area announce its calls


@dataclass(slots=True)
class Ticket:
    ticket_id: str                 # UUID
    service_code: str
    number: str                    # "A012": prefix + zero-padded sequence
    seq: int                       # 12
    service_day: str               # local service day, ISO date "2026-11-28"
    state: TicketState
    issued_ms: int                 # arrival time in the queue (kept across transfers by default)
    source: TicketSource = TicketSource.KIOSK
    priority: bool = False         # green channel (elderly, disabled, ...)
    appointment_ms: int | None = None
    person_id: str | None = None
    case_ids: list[str] = field(default_factory=list)
    window_id: str | None = None   # the window that called / serves it
    called_ms: int | None = None
    serving_ms: int | None = None
    completed_ms: int | None = None
    recalls: int = 0
    outcome: str | None = None     # for DONE: "resolved" | "pending_materials"; detail in transitions
    origin_device: str | None = None  # the kiosk that issued it
    request_id: str | None = None  # the device request that created it (idempotency key)


@dataclass(frozen=True, slots=True)
class TicketTransition:
    ticket_id: str
    from_state: TicketState | None
    to_state: TicketState
    at_ms: int
    actor: str                     # "kiosk:kiosk-01", "clerk:alice", "system"
    window_id: str | None = None
    detail: str | None = None
