"""An emulated campus card reader: ``swipe`` sends the reader's frame down the line."""

from __future__ import annotations

from pathlib import Path

from devices.hardware.card_frames import encode_card_frame
from simulators.emulated.pty_port import EmulatedPort


class EmulatedCardReader:
    """A talk-only device: it sends frames and ignores what it receives."""

    def __init__(self, path: Path) -> None:
        self.port = EmulatedPort(path, lambda _data: None)

    def swipe(self, card_number: str) -> None:
        """A card presented to the reader."""
        self.port.send(encode_card_frame(card_number))

    def send_raw(self, data: bytes) -> None:
        """Line noise, a cut frame, anything."""
        self.port.send(data)

    async def __aenter__(self) -> EmulatedCardReader:
        self.port.plug()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.port.unplug()
