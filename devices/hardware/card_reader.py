"""The campus card reader over a serial port (frame format in ``card_frames``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from devices.cancellation import raise_if_cancelled
from devices.hardware.card_frames import CardFrameDecoder, RejectedFrame
from devices.hardware.errors import PortUnavailable
from devices.hardware.link import SerialLink
from devices.hardware.ports import CARD_READER, EventSink
from devices.hardware.settings import CardReaderSettings

logger = logging.getLogger(__name__)

SWIPE_QUEUE = 16


class Debouncer:
    """One swipe per card per ``window_s``: a card held on the reader repeats its frame."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._last: dict[str, float] = {}

    def accept(self, card: str, now: float) -> bool:
        """Whether this read of ``card`` at ``now`` is a new swipe."""
        last = self._last.get(card)
        self._last[card] = now
        # Forget old cards so a long day of swipes does not grow the table without limit.
        if len(self._last) > 1024:
            self._last = {c: t for c, t in self._last.items() if now - t < self.window_s}
        return last is None or now - last >= self.window_s


class SerialCardReader:
    """A ``CardReader`` on a serial port."""

    def __init__(self, settings: CardReaderSettings, events: EventSink) -> None:
        self.settings = settings
        self.link = SerialLink(CARD_READER, settings, events, wait_for_port=True)
        self._decoder = CardFrameDecoder()
        self._debounce = Debouncer(settings.debounce_s)
        self._swipes: asyncio.Queue[str] = asyncio.Queue(SWIPE_QUEUE)
        self.cards_read = 0

    def telemetry(self) -> dict[str, Any]:
        """``card_reader_online``, ``card_reader_bad_frames``, ``cards_read``."""
        return {"card_reader_online": self.link.health.online,
                "card_reader_bad_frames": self.link.health.bad_frames, "cards_read": self.cards_read}

    async def next_card(self) -> str:
        """The next card number swiped."""
        return await self._swipes.get()

    async def run(self) -> None:
        """Read frames until cancelled; the link reopens a vanished port by itself."""
        try:
            while True:
                raise_if_cancelled()  # a stop swallowed by a timeout (devices/cancellation.py)
                try:
                    data = await self.link.read()
                except PortUnavailable:
                    self._decoder.drop_partial()  # half a frame from before the outage is void
                    continue
                except Exception:
                    logger.exception("card reader read failed")
                    self.link.close()
                    await asyncio.sleep(self.settings.reopen_initial_s)
                    continue
                if data:
                    self._handle(self._decoder.feed(data))
                else:
                    # Quiet for a whole timeout in the middle of a frame: the rest is not coming.
                    rejected = self._decoder.drop_partial()
                    if rejected is not None:
                        self.link.count_bad_frame(rejected.reason)
        finally:
            self.link.close()

    def _handle(self, items: list[str | RejectedFrame]) -> None:
        for item in items:
            if isinstance(item, RejectedFrame):
                self.link.count_bad_frame(item.reason)
                continue
            if not self._debounce.accept(item, time.monotonic()):
                continue
            self.cards_read += 1
            try:
                self._swipes.put_nowait(item)
            except asyncio.QueueFull:
                # Nobody is taking swipes (the kiosk is stuck): the visitor will swipe again.
                logger.warning("card swipe dropped: %d swipes waiting", SWIPE_QUEUE)
                with contextlib.suppress(asyncio.QueueEmpty):
                    self._swipes.get_nowait()
                self._swipes.put_nowait(item)
