"""``[[queue.windows]]`` and ``[queue.calling]`` → the clerk service's settings.

Kept out of ``hall/stack.py`` (the composition root) so the window work and the stack work do
not clash; the stack calls ``clerk_settings(config.queue)`` when it builds ``ClerkService``.
"""

from __future__ import annotations

from hall.config import QueueConfig
from hall_controller.queue.clerk import ClerkSettings
from hall_controller.queue.model import ServiceDef, WindowDef
from hall_controller.queue.rules import CallingPolicy


def clerk_settings(queue: QueueConfig) -> ClerkSettings:
    """The validated queue config as the clerk service takes it."""
    calling = queue.calling
    return ClerkSettings(
        windows=tuple(WindowDef(w.window_id, w.number, dict(w.services), w.area)
                      for w in queue.windows),
        services=tuple(ServiceDef(s.code, s.name, s.prefix, s.first_number, s.last_number,
                                  s.daily_cap, s.target_wait_min * 60, s.name_en)
                      for s in queue.services),
        policy=CallingPolicy(appointment_early_ms=calling.appointment_early_min * 60_000,
                             priority_calls=calling.priority_calls,
                             normal_calls=calling.normal_calls),
        max_recalls=calling.max_recalls,
        timezone=queue.timezone,
        rollover_at=queue.rollover_at,
    )
