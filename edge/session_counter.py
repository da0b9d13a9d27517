"""The session counter: a number that grows with every connection attempt, kept on disk.

Births and wills carry it, so a will from an older session (delivered late by the broker, for
example after this device reconnected over a half-open TCP connection) is recognisably stale.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

logger = logging.getLogger(__name__)


class SessionCounter:
    """``next()`` returns the next session number and persists it before returning.

    Without a path (pure in-memory simulation) the counter starts from the current Unix time in
    seconds, which still grows across restarts of the process.
    """

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._value = self._load()

    def _load(self) -> int:
        if self._path is None:
            return int(time.time())
        try:
            return int(self._path.read_text(encoding="ascii").strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError:
            # A torn or edited file: restart above any session this device can have used.
            logger.warning("session counter %s is unreadable; starting from the clock", self._path)
            return int(time.time())

    @property
    def current(self) -> int:
        """The last number handed out (0 before the first)."""
        return self._value

    def next(self) -> int:
        """Increment, persist (atomically: write, fsync, rename), return."""
        self._value += 1
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._path.with_suffix(".tmp")
            with tmp.open("w", encoding="ascii") as fh:
                fh.write(f"{self._value}\n")
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(self._path)
        return self._value
