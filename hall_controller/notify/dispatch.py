"""Delivers queued messages from the database through the channel senders, with retries.

A delivery is claimed with a lease (two controllers never send one at the same time), sent,
and its attempt recorded: delivered; pending again after a backoff when the channel may take
it later (``SendFailed.retryable``); failed when retrying cannot help or the attempts ran out.
Nothing is lost across a channel outage or a restart: pending deliveries stay in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

from devices.contract import now_ms
from hall_controller.cases.webhooks import RetryPolicy
from hall_controller.notify.model import Channel, Delivery, DeliveryStatus
from hall_controller.notify.ports import ChannelSender, SendFailed, TrackStore

logger = logging.getLogger(__name__)

_ERROR_LIMIT = 500


class DeliveryDispatcher:
    def __init__(self, store: TrackStore, senders: Mapping[Channel, ChannelSender], *,
                 policy: RetryPolicy | None = None, poll_interval_s: float = 2.0,
                 batch_size: int = 20, send_timeout_s: float = 20.0,
                 clock: Callable[[], int] = now_ms) -> None:
        self._store = store
        self.senders = dict(senders)
        self.policy = policy or RetryPolicy(initial_s=5.0, max_s=600.0, max_attempts=8)
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size
        self._timeout_s = send_timeout_s
        # Longer than any attempt, so a delivery still being sent is not claimed again.
        self._lease_ms = int((send_timeout_s * 2 + 30) * 1000)
        self._clock = clock
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                self._wake.clear()
                try:
                    sent = await self.run_once()
                except Exception:
                    logger.exception("notification dispatch round failed")
                    sent = 0
                if sent < self._batch_size:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)
        finally:
            for sender in self.senders.values():
                with contextlib.suppress(Exception):
                    await sender.aclose()

    async def run_once(self) -> int:
        due = await self._store.claim_due_deliveries(self._clock(), self._lease_ms,
                                                     self._batch_size)
        if due:
            async with asyncio.TaskGroup() as group:
                for delivery in due:
                    group.create_task(self._deliver(delivery),
                                      name=f"notify-delivery-{delivery.id}")
        return len(due)

    async def _deliver(self, delivery: Delivery) -> None:
        attempt = delivery.attempts + 1
        error, retryable = "", False
        sender = self.senders.get(delivery.message.channel)
        if sender is None:
            error = f"the {delivery.message.channel.value} channel is not configured"
        else:
            try:
                async with asyncio.timeout(self._timeout_s):
                    await sender.send(delivery.message)
            except SendFailed as exc:
                error, retryable = str(exc)[:_ERROR_LIMIT], exc.retryable
            except TimeoutError:
                error, retryable = f"timeout after {self._timeout_s:g} s", True
            except Exception as exc:
                # A sender bug must not end deliveries; the delivery is retried.
                logger.exception("channel %s failed unexpectedly", delivery.message.channel)
                error, retryable = f"{type(exc).__name__}: {exc}"[:_ERROR_LIMIT], True
        now = self._clock()
        if not error:
            status, next_ms = DeliveryStatus.DELIVERED, None
        elif retryable and attempt < self.policy.max_attempts:
            status, next_ms = DeliveryStatus.PENDING, now + self.policy.delay_ms(attempt)
        else:
            status, next_ms = DeliveryStatus.FAILED, None
        await self._store.record_attempt(delivery.id, now, status, next_ms, error)
        log = logger.info if status is DeliveryStatus.DELIVERED else logger.warning
        log("notification %s via %s attempt %s: %s", delivery.id,
            delivery.message.channel.value, attempt,
            status.value if not error else f"{status.value} ({error})",
            extra={"delivery_id": delivery.id, "alarm_id": delivery.alarm_id})
