"""The window terminal with the queue's service day (rollover at a local time, not midnight).

``ClerkService.service_day`` (clerk.py, owned by the clerk work) reads "today's queue" as the
local calendar date, while tickets belong to the service day that ends at
``queue.rollover_at`` (``domain.service_day``). Between local midnight and the rollover the
two disagree and a clerk would see an empty queue. Until clerk.py takes the rollover itself,
the composition root builds this subclass, which only changes that one method.
"""

from __future__ import annotations

from datetime import time
from typing import Any
from zoneinfo import ZoneInfo

from hall_controller.domain.service_day import service_day_at
from hall_controller.services.clerk import ClerkService


class RolloverClerkService(ClerkService):
    def __init__(self, *args: Any, rollover_at: time, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rollover_at = rollover_at
        self._service_zone = ZoneInfo(self.settings.timezone)

    def service_day(self, at_ms: int) -> str:
        return service_day_at(at_ms, self._service_zone, self._rollover_at)
