"""Statistics: per service and day (tickets, waits, service times, service level, no-shows)
and the day's one-trip rate. Staff (clerks, facilities) and admins may read them."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.auth import Staff
from api.schemas import Millis
from api.services import provide
from devices.contract import now_ms
from hall_controller.cases.rules import OneTripCounts
from hall_controller.queue.ports import ServiceDayStats
from hall_controller.queue.stats import DayReport, ServiceName, StatsService

Stats = Annotated[StatsService, Depends(provide(StatsService))]
router = APIRouter(prefix="/stats", tags=["statistics"])


class ServiceStatsOut(BaseModel):
    service_code: str
    name: str = Field(description="the service's name (the code when it has none configured)")
    name_en: str = Field(description="its English name (the name when none is configured)")
    target_wait_s: int = Field(description="the service level's target wait")
    tickets: int = Field(description="tickets issued that day")
    called: int = Field(description="... of which called at least once")
    served: int = Field(description="... of which completed")
    no_shows: int
    mean_wait_s: float | None = Field(description="arrival → first call, over called tickets")
    p90_wait_s: float | None = Field(description="90th percentile of the wait (interpolated)")
    mean_service_s: float | None = Field(description="start serving → done")
    service_level: float | None = Field(
        description="share of the called tickets called within the target wait")
    no_show_rate: float | None = Field(description="no-shows / called tickets")
    linked: int = Field(description="tickets linked to at least one online case")
    pending: int = Field(description="tickets completed as pending materials (补正)")

    @classmethod
    def build(cls, s: ServiceDayStats, name: ServiceName) -> ServiceStatsOut:
        return cls(service_code=s.service_code, name=name.name, name_en=name.name_en,
                   target_wait_s=s.target_wait_s,
                   tickets=s.tickets, called=s.called, served=s.served, no_shows=s.no_shows,
                   mean_wait_s=s.mean_wait_s, p90_wait_s=s.p90_wait_s,
                   mean_service_s=s.mean_service_s, service_level=s.service_level,
                   no_show_rate=s.no_show_rate, linked=s.linked, pending=s.pending)


class OneTripDayOut(BaseModel):
    resolved_with_visit: int = Field(description="cases resolved that day after ≥ 1 visit")
    one_visit: int = Field(description="... of which with exactly one visit")
    rate: float | None = Field(description="one_visit / resolved_with_visit; null if none")

    @classmethod
    def build(cls, counts: OneTripCounts) -> OneTripDayOut:
        return cls(resolved_with_visit=counts.resolved_with_visit, one_visit=counts.one_visit,
                   rate=counts.rate)


SERVICE_DAY = ("the hall's service day, YYYY-MM-DD (it ends at queue.rollover_at the next "
               "morning, as its tickets count it)")


class DayStatsOut(BaseModel):
    day: str = Field(description=SERVICE_DAY)
    timezone: str
    from_ms: Millis
    to_ms: Millis
    services: list[ServiceStatsOut]
    one_trip: OneTripDayOut | None = Field(
        description="hall-wide, over the cases resolved that day; null without the online-case "
                    "integration")

    @classmethod
    def build(cls, report: DayReport) -> DayStatsOut:
        return cls(day=report.service_day, timezone=report.timezone, from_ms=report.from_ms,
                   to_ms=report.to_ms, services=[ServiceStatsOut.build(s, report.name_of(s.service_code))
                             for s in report.services],
                   one_trip=None if report.one_trip is None
                   else OneTripDayOut.build(report.one_trip))


@router.get("/services", response_model=DayStatsOut)
async def service_stats(
    _: Staff, stats: Stats,
    day: Annotated[date | None, Query(description=SERVICE_DAY + "; default: today's")] = None,
) -> DayStatsOut:
    """Per service for one day: tickets, mean and p90 wait, mean service time, service level,
    no-show rate; and the day's one-trip rate (只跑一次)."""
    return DayStatsOut.build(await stats.day(stats.today(now_ms()) if day is None else day))
