"""The queue's figures (``queue.ports``) over a ``MemoryTicketStore``: the same definitions as
``queries/stats.sql``, in Python, for unit tests and the simulators."""

from __future__ import annotations

import math
from collections.abc import Sequence

from hall_controller.queue.memory_tickets import MemoryTicketStore
from hall_controller.queue.model import TicketState, TicketTransition
from hall_controller.queue.ports import BusyWindow, ServiceDayStats, WaitInputs


def percentile_cont(values: Sequence[float], fraction: float) -> float | None:
    """PostgreSQL's ``percentile_cont``: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


class MemoryStatsStore:
    """``WaitInputsSource`` and ``StatsStore`` reading a memory ticket store."""

    def __init__(self, tickets: MemoryTicketStore) -> None:
        self._tickets = tickets

    async def wait_inputs(self, service_day: str, keep: int) -> WaitInputs:
        self._tickets._check()
        tickets = list(self._tickets.tickets.values())
        recent: dict[str, tuple[float, ...]] = {}
        for code in self._tickets.services:
            if code in self._tickets.inactive:
                continue
            done = sorted((t for t in tickets if t.service_code == code
                           and t.state is TicketState.DONE and t.called_ms is not None
                           and t.completed_ms is not None),
                          key=lambda t: t.completed_ms or 0)[-keep:]
            if done:
                recent[code] = tuple(((t.completed_ms or 0) - (t.called_ms or 0)) / 1000
                                     for t in done)
        waiting: dict[str, int] = {}
        busy: dict[str, BusyWindow] = {}
        for t in sorted(tickets, key=lambda t: t.called_ms or 0):
            if t.service_day != service_day:
                continue
            if t.state is TicketState.WAITING:
                waiting[t.service_code] = waiting.get(t.service_code, 0) + 1
            elif (t.state in (TicketState.CALLED, TicketState.SERVING)
                  and t.window_id is not None and t.called_ms is not None):
                busy.setdefault(t.window_id, BusyWindow(t.service_code, t.called_ms))
        return WaitInputs(recent, waiting, busy)

    async def service_day_stats(self, service_day: str) -> list[ServiceDayStats]:
        self._tickets._check()
        by_ticket: dict[str, list[TicketTransition]] = {}
        for tr in self._tickets.transitions:
            by_ticket.setdefault(tr.ticket_id, []).append(tr)
        day = [t for t in self._tickets.tickets.values() if t.service_day == service_day]
        result: list[ServiceDayStats] = []
        for code, service in sorted(self._tickets.services.items()):
            mine = [t for t in day if t.service_code == code]
            if code in self._tickets.inactive and not mine:
                continue
            waits: list[float] = []
            service_times: list[float] = []
            for t in mine:
                moves = by_ticket.get(t.ticket_id, [])
                calls = [m.at_ms for m in moves if m.to_state is TicketState.CALLED]
                if calls:
                    waits.append((min(calls) - t.issued_ms) / 1000)
                starts = [m.at_ms for m in moves if m.to_state is TicketState.SERVING]
                dones = [m.at_ms for m in moves if m.to_state is TicketState.DONE]
                if t.state is TicketState.DONE and starts and dones:
                    service_times.append((max(dones) - max(starts)) / 1000)
            no_shows = sum(t.state is TicketState.NO_SHOW for t in mine)
            called = len(waits)
            result.append(ServiceDayStats(
                service_code=code, service_day=service_day, target_wait_s=service.target_wait_s,
                tickets=len(mine), called=called,
                served=sum(t.state is TicketState.DONE for t in mine), no_shows=no_shows,
                mean_wait_s=_mean(waits), p90_wait_s=percentile_cont(waits, 0.9),
                mean_service_s=_mean(service_times),
                service_level=(sum(w <= service.target_wait_s for w in waits) / called
                               if called else None),
                no_show_rate=no_shows / called if called else None,
                linked=sum(bool(t.case_ids) for t in mine),
                pending=sum(t.state is TicketState.DONE and t.outcome == "pending_materials"
                            for t in mine)))
        return result
