"""A pseudo-terminal pair that a device emulator answers on, and that can be unplugged."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

READ_CHUNK = 4096


class EmulatedPort:
    """The device side of a serial line; the driver opens ``path``.

    ``path`` is a symlink to the pty's slave (``/dev/pts/N``). ``unplug`` closes the pty and
    removes the link, as a pulled USB adapter removes its ``/dev/serial/by-id`` name;
    ``replug`` makes a new pty (another ``/dev/pts/N``) behind the same path. ``silent`` keeps
    the port but swallows what arrives: a device that stopped answering.
    """

    def __init__(self, path: Path, on_data: Callable[[bytes], None]) -> None:
        self.path = path
        self.silent = False
        self.received_bytes = 0
        self._on_data = on_data
        self._master: int | None = None
        self._slave: int | None = None
        self._pending = bytearray()

    @property
    def plugged(self) -> bool:
        """Whether the port exists right now."""
        return self._master is not None

    def plug(self) -> None:
        """Create the pty and its stable name (idempotent)."""
        if self._master is not None:
            return
        master, slave = os.openpty()
        # Raw: no echo, no line editing, every byte passes as it is (as on a real UART). Holding
        # the slave open keeps the master readable between the driver's opens.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        link = self.path.with_name(self.path.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(os.ttyname(slave))
        link.replace(self.path)
        asyncio.get_running_loop().add_reader(master, self._readable)
        logger.info("emulated port %s -> %s", self.path, os.ttyname(slave))

    def unplug(self) -> None:
        """Remove the port: the driver's reads and writes fail, and it cannot reopen it."""
        if self._master is None:
            return
        asyncio.get_running_loop().remove_reader(self._master)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        self._pending.clear()

    def replug(self) -> None:
        """Plug a new pty in behind the same path."""
        self.unplug()
        self.plug()

    def send(self, data: bytes) -> None:
        """Bytes from the device to the host."""
        if self._master is None:
            return
        self._pending += data
        self._drain()

    def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        if self._master is None:
            return
        try:
            while self._pending:
                written = os.write(self._master, self._pending)
                del self._pending[:written]
        except BlockingIOError:
            loop.add_writer(self._master, self._writable)
        except OSError:
            self._pending.clear()

    def _writable(self) -> None:
        if self._master is not None:
            asyncio.get_running_loop().remove_writer(self._master)
        self._drain()

    def _readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        self.received_bytes += len(data)
        if data and not self.silent:
            self._on_data(data)

    async def __aenter__(self) -> EmulatedPort:
        self.plug()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.unplug()
