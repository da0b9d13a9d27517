"""What the notification room needs from outside: the store, and one sender per channel.

``ChannelSender`` is the notifier port other features extend (visitor notifications send
through the same senders): give it an ``OutgoingMessage``, it delivers or raises
``SendFailed`` saying whether trying again later could help.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hall_controller.kernel.errors import HallError
from hall_controller.notify.model import (
    AlarmTrack,
    Channel,
    Delivery,
    DeliveryStatus,
    HistoryEntry,
    MaintenanceWindow,
    OutgoingMessage,
    Override,
    PlannedMessage,
    Recipient,
    RecipientDraft,
    Shift,
    TrackStatus,
)


class SendFailed(HallError):
    """A channel did not take a message. ``retryable``: the channel may take it later (a
    timeout, a 5xx, a rate limit); otherwise retrying cannot help (a wrong address)."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


class ChannelSender(Protocol):
    """Delivers messages on one channel."""

    channel: Channel

    async def send(self, message: OutgoingMessage) -> None:
        """Deliver ``message`` or raise SendFailed."""
        ...

    async def aclose(self) -> None: ...


class DirectoryStore(Protocol):
    """Recipients, the rota and maintenance windows (what admins edit)."""

    async def list_recipients(self) -> list[Recipient]: ...

    async def save_recipient(self, recipient_id: int | None, draft: RecipientDraft,
                             at_ms: int, by: str) -> Recipient:
        """Insert (``recipient_id`` None) or replace; NotFound for an unknown id."""
        ...

    async def list_shifts(self) -> list[Shift]: ...

    async def add_shift(self, shift: Shift) -> Shift: ...

    async def delete_shift(self, shift_id: int) -> None:
        """NotFound when there is no such shift."""
        ...

    async def list_overrides(self, from_day: str) -> list[Override]: ...

    async def add_override(self, override: Override) -> Override: ...

    async def delete_override(self, override_id: int) -> None: ...

    async def list_windows(self, ending_after_ms: int) -> list[MaintenanceWindow]: ...

    async def add_window(self, window: MaintenanceWindow) -> MaintenanceWindow: ...

    async def end_window(self, window_id: int, at_ms: int) -> MaintenanceWindow:
        """End it now (or never start it); NotFound when unknown."""
        ...


class TrackStore(Protocol):
    """Each alarm's notification track, its history, and the outgoing deliveries."""

    async def start_track(self, track: AlarmTrack, planned: Sequence[PlannedMessage] = (),
                          history: Sequence[HistoryEntry] = (),
                          at_ms: int = 0) -> list[int] | None:
        """In one transaction: record a new track, queue ``planned`` and write ``history``
        (as ``advance`` does); returns the new delivery ids. None, and nothing changes, when
        the alarm has a track already: an alarm is handled once however often it is heard
        of, and never half-handled."""
        ...

    async def tracked(self, alarm_ids: Sequence[int]) -> set[int]: ...

    async def get_track(self, alarm_id: int) -> AlarmTrack | None: ...

    async def count_tracks(self, device_id: str, type: str, since_ms: int) -> int:
        """How many alarms of that type on that device were tracked since ``since_ms``."""
        ...

    async def advance(self, track: AlarmTrack, planned: Sequence[PlannedMessage],
                      history: Sequence[HistoryEntry], at_ms: int) -> list[int]:
        """In one transaction: save ``track`` as it now stands, queue ``planned`` as pending
        deliveries (due now), write ``history`` and one history entry per planned message
        (with its delivery id). Returns the new delivery ids."""
        ...

    async def claim_due_steps(self, now_ms: int, lease_ms: int,
                              limit: int) -> list[AlarmTrack]:
        """Tracks being escalated whose next step is due, leased to the caller (another
        controller does not claim them until the lease runs out or ``advance`` saves them)."""
        ...

    async def claim_digest(self, now_ms: int, lease_ms: int, limit: int) -> list[AlarmTrack]:
        """Tracks waiting for the digest, leased to the caller; they wait no longer once
        ``finish_digest`` says they went out (a caller that dies first leaves them to the
        next digest: sent twice rather than never)."""
        ...

    async def finish_digest(self, alarm_ids: Sequence[int]) -> None: ...

    async def stop(self, alarm_id: int, entry: HistoryEntry) -> bool:
        """End a notifying track's escalation and write ``entry``; False when it was not
        escalating (done, held, or unknown), and then nothing is written."""
        ...

    async def history(self, alarm_id: int) -> list[HistoryEntry]: ...

    async def list_tracks(self, status: TrackStatus | None, limit: int) -> list[AlarmTrack]: ...

    async def claim_due_deliveries(self, now_ms: int, lease_ms: int,
                                   limit: int) -> list[Delivery]: ...

    async def record_attempt(self, delivery_id: int, at_ms: int, status: DeliveryStatus,
                             next_attempt_ms: int | None, error: str) -> None: ...

    async def list_deliveries(self, *, alarm_id: int | None = None,
                              status: DeliveryStatus | None = None,
                              limit: int = 100) -> list[Delivery]: ...

    async def queue_message(self, planned: PlannedMessage, at_ms: int) -> int:
        """A delivery outside any alarm's track (a test message); returns its id."""
        ...


class NotifyStore(DirectoryStore, TrackStore, Protocol):
    """Both halves, over one database."""
