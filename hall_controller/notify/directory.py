"""What admins and facilities staff edit: recipients and their channels, the on-call rota,
maintenance windows. Every change is checked (``rules.validate_*``) and logged with who made it
(the audit trail of the notifier's set-up)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from devices.contract import now_ms
from hall_controller.notify.model import (
    MaintenanceWindow,
    Override,
    Recipient,
    RecipientDraft,
    Shift,
)
from hall_controller.notify.ports import DirectoryStore
from hall_controller.notify.rules import (
    on_call,
    validate_override,
    validate_recipient,
    validate_shift,
    validate_window,
)

logger = logging.getLogger(__name__)


class NotifyDirectory:
    def __init__(self, store: DirectoryStore, timezone: ZoneInfo, *,
                 clock: Callable[[], int] = now_ms) -> None:
        self._store = store
        self._zone = timezone
        self._clock = clock

    def _audit(self, what: str, by: str, **fields: object) -> None:
        logger.info("notify: %s by %s", what, by, extra={"by": by, "audit": what, **fields})

    async def recipients(self) -> list[Recipient]:
        return await self._store.list_recipients()

    async def save_recipient(self, recipient_id: int | None, draft: RecipientDraft,
                             by: str) -> Recipient:
        draft = validate_recipient(dataclasses.replace(draft, name=draft.name.strip()))
        saved = await self._store.save_recipient(recipient_id, draft, self._clock(), by)
        self._audit("recipient saved", by, recipient_id=saved.id)
        return saved

    async def shifts(self) -> list[Shift]:
        return await self._store.list_shifts()

    async def add_shift(self, shift: Shift, by: str) -> Shift:
        saved = await self._store.add_shift(validate_shift(shift))
        self._audit("shift added", by, shift_id=saved.id)
        return saved

    async def delete_shift(self, shift_id: int, by: str) -> None:
        await self._store.delete_shift(shift_id)
        self._audit("shift deleted", by, shift_id=shift_id)

    async def overrides(self) -> list[Override]:
        return await self._store.list_overrides(self._today(-1))

    async def add_override(self, override: Override, by: str) -> Override:
        saved = await self._store.add_override(validate_override(override))
        self._audit("override added", by, override_id=saved.id)
        return saved

    async def delete_override(self, override_id: int, by: str) -> None:
        await self._store.delete_override(override_id)
        self._audit("override deleted", by, override_id=override_id)

    async def on_call_now(self, site: str = "") -> list[Recipient]:
        now = self._clock()
        ids = on_call(await self._store.list_shifts(),
                      await self._store.list_overrides(self._today(-1)), site, now, self._zone)
        by_id = {r.id: r for r in await self._store.list_recipients()}
        return [by_id[i] for i in ids if i in by_id]

    async def windows(self, include_past_days: int = 7) -> list[MaintenanceWindow]:
        return await self._store.list_windows(self._clock() - include_past_days * 86_400_000)

    async def add_window(self, window: MaintenanceWindow, by: str) -> MaintenanceWindow:
        window = dataclasses.replace(window, reason=window.reason.strip(), created_by=by)
        saved = await self._store.add_window(validate_window(window))
        self._audit("maintenance window added", by, window_id=saved.id,
                    device_id=saved.device_id, site=saved.site)
        return saved

    async def end_window(self, window_id: int, by: str) -> MaintenanceWindow:
        ended = await self._store.end_window(window_id, self._clock())
        self._audit("maintenance window ended", by, window_id=window_id)
        return ended

    def _today(self, days: int = 0) -> str:
        local = datetime.fromtimestamp(self._clock() / 1000, tz=UTC).astimezone(self._zone)
        return (local.date() + timedelta(days=days)).isoformat()
