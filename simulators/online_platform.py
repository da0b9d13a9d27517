"""A simulated online service platform (一网通办): it files cases for part of the hall's visitors,
follows the hall's case events, and sends its applicants to the hall.

What happens to one applicant, as on a real campus: the case is filed online and reviewed
there (status ``awaiting_visit``: come in with the originals, collect the certificate); some
time later the applicant walks into the hall and identifies at a kiosk, which links the case to
the ticket; the clerk completes the ticket, which resolves the case, or sends the applicant
home for a missing document (pending materials, 补正: the case goes to ``materials_required``).
The platform reads that from the hall's event feed and the applicant comes back later with it —
a second trip, which is what the one-trip rate (只跑一次) counts against.

The platform reaches the hall through a ``CaseDesk``: the integration API with an API key
(``HttpCaseDesk``, what the live demo uses, the same calls a real platform makes), or the
``CaseService`` itself (``ServiceCaseDesk``, for the replay of the earlier day, whose case
events must carry the replayed times; and for tests over the memory stores).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from devices.cancellation import raise_if_cancelled
from devices.contract import now_ms
from hall_controller.cases.rules import (
    Applicant as CaseApplicant,
)
from hall_controller.cases.rules import (
    CaseEventType,
    CaseInput,
    CaseStatus,
    CompletionOutcome,
    Material,
)
from hall_controller.cases.service import CaseService
from simulators.visitors import VisitorPlan, person_id

logger = logging.getLogger(__name__)

# What each service's case asks the applicant to bring (material code, name).
MATERIALS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "student-id": (("id-copy", "身份证复印件"), ("photo", "一寸照片")),
    "transcript": (("application", "成绩单申请表"), ("id-copy", "身份证复印件")),
    "dorm": (("dorm-form", "宿舍调整申请表"), ("counsellor", "辅导员签字")),
    "finance": (("notice", "缴费通知单"), ("receipt", "缴费凭证")),
}
DEFAULT_MATERIALS = (("application", "申请表"),)
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
_GIVEN = "伟芳娜敏静丽强磊洋艳勇军杰娟涛明超秀霞平刚桂英华玉萍红"
FEED_PAGE = 500


@dataclass(frozen=True, slots=True)
class OnlineApplicant:
    """Someone with a case filed online, on their way to the hall (or back to it)."""

    case_id: str
    service_code: str
    person_id: str
    name: str
    priority: bool = False

    def ticket_params(self) -> dict[str, Any]:
        """What they do at the kiosk: ``ticket.take`` for the service, identified by their
        person id (so the kiosk links their open cases to the ticket)."""
        params: dict[str, Any] = {"service": self.service_code,
                                  "identity": {"type": "person_id", "value": self.person_id}}
        if self.priority:
            params["priority"] = True
        return params


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One event of the hall's case feed, as the platform reads it."""

    id: int
    type: str
    case_id: str
    data: Mapping[str, Any]


class CaseDesk(Protocol):
    """How the platform reaches the hall's case integration."""

    async def file(self, case: CaseInput) -> None:
        """Create or update the case (the integration's ``PUT /integration/cases/{id}``)."""
        ...

    async def events_after(self, cursor: int, limit: int) -> tuple[list[FeedEvent], int]:
        """The case events after ``cursor`` and the next cursor (``GET /integration/events``)."""
        ...


class ServiceCaseDesk:
    """The ``CaseService`` in this process (its clock stamps the events)."""

    def __init__(self, cases: CaseService) -> None:
        self._cases = cases

    async def file(self, case: CaseInput) -> None:
        await self._cases.upsert(case)

    async def events_after(self, cursor: int, limit: int) -> tuple[list[FeedEvent], int]:
        page = await self._cases.events_after(cursor, limit)
        return ([FeedEvent(e.id, e.type.value, e.case_id, e.data) for e in page.events],
                page.next_cursor)


class HttpCaseDesk:
    """The integration API over HTTP with an API key (scopes cases:write, events:read)."""

    def __init__(self, client: httpx.AsyncClient, api_key: str) -> None:
        """``client``: its ``base_url`` is the API's (``http://host:port/api/v1``)."""
        self._client = client
        self._headers = {"X-Api-Key": api_key}

    async def file(self, case: CaseInput) -> None:
        response = await self._client.put(f"/integration/cases/{case.case_id}",
                                          json=case_body(case), headers=self._headers)
        response.raise_for_status()

    async def events_after(self, cursor: int, limit: int) -> tuple[list[FeedEvent], int]:
        response = await self._client.get("/integration/events", headers=self._headers,
                                          params={"after": cursor, "limit": limit})
        response.raise_for_status()
        page = response.json()
        return ([FeedEvent(int(e["id"]), str(e["type"]), str(e["case_id"]), e["data"])
                 for e in page["events"]], int(page["next_cursor"]))


def case_body(case: CaseInput) -> dict[str, Any]:
    """The JSON body of the integration's case upsert."""
    body: dict[str, Any] = {
        "service_code": case.service_code, "status": case.status.value,
        "applicant": {"person_id": case.applicant.person_id,
                      "campus_card": case.applicant.campus_card, "name": case.applicant.name},
        "materials": [{"code": m.code, "name": m.name, "received": m.received}
                      for m in case.materials],
    }
    if case.status_reason is not None:
        body["status_reason"] = case.status_reason
    return body


@dataclass(slots=True)
class PlatformState:
    """What the platform knows: its applicants by case id, and how far it read the feed.
    Handed from the replay of the earlier day to the live platform."""

    applicants: dict[str, OnlineApplicant] = field(default_factory=dict)
    cursor: int = 0
    filed: int = 0
    sent_back: int = 0    # applicants told to come again with a missing document


class OnlinePlatform:
    """Files cases through a ``CaseDesk`` and learns from the feed who must come back."""

    def __init__(self, desk: CaseDesk, rng: random.Random, *, priority_share: float = 0.1,
                 state: PlatformState | None = None) -> None:
        self.desk = desk
        self.state = state if state is not None else PlatformState()
        self._rng = rng
        self._priority_share = priority_share

    async def file_case(self, service_code: str) -> OnlineApplicant:
        """A new applicant files a case for ``service_code``; reviewed online, it waits for
        their visit. Raises what the desk raises (the caller decides whether to go on)."""
        rng = self._rng
        applicant = OnlineApplicant(
            case_id=f"YW-{rng.getrandbits(48):012x}", service_code=service_code,
            person_id=person_id(rng), name=rng.choice(_SURNAMES) + "".join(
                rng.choice(_GIVEN) for _ in range(rng.randint(1, 2))),
            priority=rng.random() < self._priority_share)
        materials = tuple(Material(code, name)
                          for code, name in MATERIALS.get(service_code, DEFAULT_MATERIALS))
        await self.desk.file(CaseInput(
            case_id=applicant.case_id, service_code=service_code,
            status=CaseStatus.AWAITING_VISIT,
            applicant=CaseApplicant(person_id=applicant.person_id, name=applicant.name),
            materials=materials, status_reason="网上预审通过，请携带原件到大厅办理"))
        self.state.applicants[applicant.case_id] = applicant
        self.state.filed += 1
        return applicant

    async def skip_feed(self) -> None:
        """Start following the feed from its end (events of earlier runs are not ours)."""
        while True:
            raise_if_cancelled()  # a stop swallowed by a wait (devices/cancellation.py)
            events, cursor = await self.desk.events_after(self.state.cursor, FEED_PAGE)
            self.state.cursor = cursor
            if len(events) < FEED_PAGE:
                return

    async def sent_back(self) -> list[OnlineApplicant]:
        """Read the feed: the platform's applicants whose visit ended in pending materials
        (they must come again), in the order the hall completed them."""
        again: list[OnlineApplicant] = []
        while True:
            raise_if_cancelled()  # a stop swallowed by a wait (devices/cancellation.py)
            events, cursor = await self.desk.events_after(self.state.cursor, FEED_PAGE)
            self.state.cursor = cursor
            for event in events:
                applicant = self.state.applicants.get(event.case_id)
                if (applicant is not None and event.type == CaseEventType.TICKET_COMPLETED
                        and event.data.get("outcome") == CompletionOutcome.PENDING_MATERIALS):
                    again.append(applicant)
            if len(events) < FEED_PAGE:
                break
        self.state.sent_back += len(again)
        return again


@dataclass(frozen=True, slots=True)
class PlatformPlan:
    """The live platform's pace, in simulated seconds (``speed`` as in ``VisitorPlan``)."""

    filings: VisitorPlan                                # cases filed per hour, by service
    arrive_after_s: tuple[float, float] = (300.0, 3600.0)   # filed → at the kiosk, uniform
    return_after_s: tuple[float, float] = (900.0, 3600.0)   # sent home → back, uniform
    feed_poll_s: float = 2.0                            # wall-clock seconds between reads
    error_backoff_s: float = 5.0                        # wall-clock, after a failed call

    def __post_init__(self) -> None:
        for low, high in (self.arrive_after_s, self.return_after_s):
            if not 0 <= low <= high:
                raise ValueError("delays must be (low, high) with 0 <= low <= high")
        if self.feed_poll_s <= 0 or self.error_backoff_s <= 0:
            raise ValueError("feed_poll_s and error_backoff_s must be positive")


class VisitSchedule:
    """Applicants due at the hall at wall-clock times (ms), sent to a kiosk when due."""

    def __init__(self, send: Callable[[OnlineApplicant], bool],
                 clock: Callable[[], int] = now_ms) -> None:
        self._send = send
        self._clock = clock
        self._heap: list[tuple[int, int, OnlineApplicant]] = []
        self._seq = itertools.count()
        self._changed = asyncio.Event()
        self.sent = 0
        self.missed = 0   # due, but no kiosk would take them (not running)

    def add(self, at_ms: int, applicant: OnlineApplicant) -> None:
        heapq.heappush(self._heap, (at_ms, next(self._seq), applicant))
        self._changed.set()

    def __len__(self) -> int:
        return len(self._heap)

    async def run(self) -> None:
        """Send each applicant when due, until cancelled."""
        while True:
            raise_if_cancelled()  # a stop swallowed by a wait (devices/cancellation.py)
            self._changed.clear()
            now = self._clock()
            while self._heap and self._heap[0][0] <= now:
                _, _, applicant = heapq.heappop(self._heap)
                if self._send(applicant):
                    self.sent += 1
                else:
                    self.missed += 1
            wait_s = None if not self._heap else (self._heap[0][0] - now) / 1000
            with contextlib.suppress(TimeoutError):  # due: the loop sends them
                await asyncio.wait_for(self._changed.wait(), wait_s)


def on_their_way(plan: PlatformPlan, now: int, rng: random.Random) -> list[tuple[int, str]]:
    """When a platform that had been filing all along would see its applicants come in:
    the filings of the last ``arrive_after_s[1]`` (the day's profile, in wall-clock time)
    whose visit is still ahead of ``now``, as (wall-clock ms, service), soonest first."""
    filings = plan.filings
    horizon_ms = round(plan.arrive_after_s[1] / filings.speed * 1000)
    ahead: list[tuple[int, str]] = []
    for service in filings.rates_per_hour:
        peak = filings.peak_rate_per_s(service)
        if peak <= 0:
            continue
        at = now - horizon_ms
        while True:
            at += round(rng.expovariate(peak) * 1000)
            if at >= now:
                break
            if rng.random() * peak > filings.rate_per_s(service, at):
                continue   # thinning, as the live filings do
            arrives = at + round(rng.uniform(*plan.arrive_after_s) / filings.speed * 1000)
            if arrives > now:
                ahead.append((arrives, service))
    return sorted(ahead)


async def run_platform(platform: OnlinePlatform, plan: PlatformPlan,
                       send: Callable[[OnlineApplicant], bool], *,
                       due: Sequence[tuple[int, OnlineApplicant]] | None = None,
                       rng: random.Random | None = None,
                       ready: Callable[[], Awaitable[None]] | None = None) -> None:
    """The live platform until cancelled: files cases at ``plan.filings``' rates (the day's
    profile included), sends each applicant to the hall (``send``: to a kiosk) after a delay,
    and sends back those the feed says must come again. ``due``: applicants already on their
    way (wall-clock ms; from the replay). Without it the platform starts as one that had been
    filing all along (``on_their_way``), so its first applicants come within minutes, not
    after the first delay; their cases are filed at the start (the API stamps them then).
    ``ready``: awaited before anything is filed."""
    rng = rng or random.Random()  # simulated visitors, not secrets
    schedule = VisitSchedule(send)
    speed = plan.filings.speed

    async def file(service: str) -> OnlineApplicant | None:
        try:
            return await platform.file_case(service)
        except (httpx.HTTPError, OSError) as exc:
            logger.warning("online platform: filing a %s case failed: %s", service, exc)
            await asyncio.sleep(plan.error_backoff_s)
            return None

    def after(delay_s: tuple[float, float]) -> int:
        return now_ms() + round(rng.uniform(*delay_s) / speed * 1000)

    async def filings(service: str) -> None:
        peak = plan.filings.peak_rate_per_s(service)
        while True:
            raise_if_cancelled()  # a stop swallowed by a wait (devices/cancellation.py)
            await asyncio.sleep(rng.expovariate(peak))
            if (plan.filings.profile is not None
                    and rng.random() * peak > plan.filings.rate_per_s(service, now_ms())):
                continue
            applicant = await file(service)
            if applicant is not None:
                schedule.add(after(plan.arrive_after_s), applicant)

    async def follow_feed() -> None:
        while True:
            raise_if_cancelled()  # a stop swallowed by a wait (devices/cancellation.py)
            try:
                for applicant in await platform.sent_back():
                    schedule.add(after(plan.return_after_s), applicant)
            except (httpx.HTTPError, OSError, KeyError, ValueError) as exc:
                logger.warning("online platform: reading the case feed failed: %s", exc)
                await asyncio.sleep(plan.error_backoff_s)
                continue
            await asyncio.sleep(plan.feed_poll_s)

    if ready is not None:
        await ready()
    if due is None:
        for at_ms, service in on_their_way(plan, now_ms(), rng):
            applicant = await file(service)
            if applicant is not None:
                schedule.add(at_ms, applicant)
    else:
        for at_ms, applicant in due:
            schedule.add(at_ms, applicant)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(schedule.run(), name="platform:visits")
        tg.create_task(follow_feed(), name="platform:feed")
        for service in plan.filings.rates_per_hour:
            if plan.filings.rate_per_s(service) > 0:
                tg.create_task(filings(service), name=f"platform:file:{service}")


__all__ = ["MATERIALS", "CaseDesk", "FeedEvent", "HttpCaseDesk", "OnlineApplicant",
           "OnlinePlatform", "PlatformPlan", "PlatformState", "ServiceCaseDesk",
           "VisitSchedule", "case_body", "on_their_way", "run_platform"]
