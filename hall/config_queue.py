"""The ``[queue]`` table of the configuration: services, windows, calling rules and hours.

Split from ``hall/config_sections.py`` (the other tables), which it shares ``ConfigSection`` with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import time
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from hall.config_sections import ConfigSection
from hall_controller.queue.model import WINDOW_ID_PATTERN

_SERVICE_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PREFIX = re.compile(r"^[A-Z]{1,3}$")


class QueueServiceConfig(ConfigSection):
    """One ``[[queue.services]]`` entry: a service the hall offers."""

    code: str = Field(description="what kiosks send in ticket.take, e.g. student-id")
    name: str = Field(min_length=1, max_length=100)
    name_en: str = Field(default="", max_length=100,
                         description="the name on pages switched to English; empty: name")
    prefix: str = Field(description="ticket letters: A → A001")
    first_number: Annotated[int, Field(ge=0, le=99_999)] = 1
    last_number: Annotated[int, Field(ge=1, le=99_999)] = 999
    daily_cap: Annotated[int | None, Field(ge=1)] = Field(
        default=None, description="at most this many tickets a day; empty: the number range")
    target_wait_min: Annotated[int, Field(ge=1, le=24 * 60)] = 15

    @field_validator("code")
    @classmethod
    def _code_shape(cls, value: str) -> str:
        if not _SERVICE_CODE.match(value):
            raise ValueError("expected lower-case letters, digits, - or _ (e.g. student-id)")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        if not _PREFIX.match(value):
            raise ValueError("expected 1-3 capital letters (e.g. A)")
        return value

    @model_validator(mode="after")
    def _range_is_ordered(self) -> QueueServiceConfig:
        if self.last_number < self.first_number:
            raise ValueError(f"service {self.code}: last_number ({self.last_number}) is below "
                             f"first_number ({self.first_number})")
        return self


def _demo_services() -> list[QueueServiceConfig]:
    return [
        QueueServiceConfig(code="student-id", name="学生证办理", name_en="Student ID card",
                           prefix="A"),
        QueueServiceConfig(code="transcript", name="成绩单与证明",
                           name_en="Transcripts and certificates", prefix="B"),
        QueueServiceConfig(code="dorm", name="宿舍事务", name_en="Dormitory affairs", prefix="C"),
        QueueServiceConfig(code="finance", name="财务缴费", name_en="Fees and payments",
                           prefix="D", target_wait_min=20),
    ]


_WINDOW_ID = re.compile(WINDOW_ID_PATTERN)


class QueueWindowConfig(ConfigSection):
    """One ``[[queue.windows]]`` entry: a service window, what it serves and where."""

    window_id: str = Field(description="stable id used by the API, e.g. w3")
    number: Annotated[int, Field(ge=1, le=999)] = Field(
        description="the number announced: 请 A012 号到 3 号窗口")
    services: dict[str, Annotated[int, Field(ge=1, le=100)]] = Field(
        min_length=1,
        description="service code = weight; a higher weight is preferred (skills routing)")
    area: str = Field(default="main-hall", min_length=1, max_length=128,
                      description="the displays whose device site is this announce its calls")

    @field_validator("window_id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _WINDOW_ID.match(value):
            raise ValueError("expected lower-case letters, digits, - or _ (e.g. w3)")
        return value


class QueueCallingConfig(ConfigSection):
    """``[queue.calling]``: recalls, the green-channel ratio, appointment check-in."""

    max_recalls: Annotated[int, Field(ge=0, le=10)] = Field(
        default=2, description="recalls before the clerk must mark a no-show")
    priority_calls: Annotated[int, Field(ge=1, le=20)] = Field(
        default=2, description="while both kinds wait: this many green-channel calls ...")
    normal_calls: Annotated[int, Field(ge=1, le=20)] = Field(
        default=1, description="... then this many normal calls, so normal never starves")
    appointment_early_min: Annotated[int, Field(ge=0, le=24 * 60)] = Field(
        default=5, description="an appointment is called this long before its booked time")


def _demo_windows() -> list[QueueWindowConfig]:
    # Every demo service is served by two windows: one prefers it (weight 2), one helps out.
    return [
        QueueWindowConfig(window_id="w1", number=1, services={"student-id": 2, "transcript": 1}),
        QueueWindowConfig(window_id="w2", number=2, services={"transcript": 2, "student-id": 1}),
        QueueWindowConfig(window_id="w3", number=3, services={"dorm": 2, "finance": 1}),
        QueueWindowConfig(window_id="w4", number=4, services={"finance": 2, "dorm": 1}),
    ]


class QueueConfig(ConfigSection):
    """``[queue]``: services, windows, calling rules, opening hours and time zone of the hall."""

    timezone: str = "Asia/Shanghai"
    always_open: bool = Field(
        default=True, description="issue tickets at any hour (the demo); false: use opens/closes")
    opens: time = time(8, 30)
    closes: time = time(17, 30)
    open_days: list[Annotated[int, Field(ge=1, le=7)]] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5], description="ISO weekdays: Monday 1 .. Sunday 7")
    default_service_s: Annotated[float, Field(gt=0)] = 300.0
    rollover_at: time = Field(
        default=time(3, 0), description="local time a service day ends: numbers restart and the "
                                        "day's still-open tickets are closed (history kept)")
    remote_checkin_window_min: Annotated[int, Field(ge=1, le=24 * 60)] = Field(
        default=60, description="a remote ticket (指尖办) lapses if not checked in this long "
                                "after it was taken (unless the request set arrive_by_ms)")
    housekeeping_interval_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=30.0, description="how often the controller lapses remote tickets and checks "
                                  "for the rollover")
    services: list[QueueServiceConfig] = Field(default_factory=_demo_services)
    windows: list[QueueWindowConfig] = Field(default_factory=_demo_windows)
    calling: QueueCallingConfig = QueueCallingConfig()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone such as Asia/Shanghai") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> QueueConfig:
        if not self.always_open and self.opens >= self.closes:
            raise ValueError(f"opens ({self.opens:%H:%M}) must be before closes ({self.closes:%H:%M})")
        _refuse_shared(self.services, ("code", "prefix"), "services")
        self._check_windows()
        return self

    def _check_windows(self) -> None:
        codes = {s.code for s in self.services}
        if "windows" not in self.model_fields_set and not all(
                set(w.services) <= codes for w in self.windows):
            # Own services but no windows configured: rather than fail on the demo windows,
            # open one window per service (window n serves service n) to start with.
            self.__dict__["windows"] = [
                QueueWindowConfig(window_id=f"w{i}", number=i, services={s.code: 1})
                for i, s in enumerate(self.services, start=1)]
        _refuse_shared(self.windows, ("window_id", "number"), "windows")
        for window in self.windows:
            unknown = sorted(set(window.services) - codes)
            if unknown:
                raise ValueError(f"window {window.window_id} serves unknown service(s) "
                                 f"{', '.join(unknown)}; known: {', '.join(sorted(codes))}")


def _refuse_shared(entries: Sequence[ConfigSection], attrs: tuple[str, ...], what: str) -> None:
    """Refuse two ``what`` (entries of a list) with the same value of any of ``attrs``."""
    for attr in attrs:
        seen: set[object] = set()
        for entry in entries:
            value = getattr(entry, attr)
            if value in seen:
                raise ValueError(f"two {what} share the {attr} {value!r}")
            seen.add(value)
