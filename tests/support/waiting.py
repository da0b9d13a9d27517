"""How tests wait: for an outcome, polled with a deadline, never for a fixed time.

``eventually`` (async) and ``eventually_blocking`` (for tests that drive subprocesses from
plain functions) poll a check until it holds and fail, naming what was awaited, once the
deadline passes. A test that must show that something did *not* happen waits for a later
event instead (a marker message processed after it), never for a fixed sleep.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

POLL_S = 0.05


async def eventually(check: Callable[[], Awaitable[T] | T], timeout_s: float = 10.0,
                     what: str = "condition", *, interval_s: float = POLL_S) -> T:
    """Poll ``check`` (plain or async) until it returns something true, and return that.

    Fails with ``what`` after ``timeout_s``. The check runs once more at the deadline, so a
    slow machine never fails a test whose outcome arrived while it was asleep.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        last = time.monotonic() > deadline
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if last:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(interval_s)


def eventually_blocking(check: Callable[[], T], timeout_s: float = 10.0, what: str = "condition",
                        *, interval_s: float = 0.1, ignore: tuple[type[BaseException], ...] = (),
                        context: Callable[[], str] | None = None) -> T:
    """``eventually`` for synchronous tests. Exceptions in ``ignore`` count as "not yet" (an
    HTTP server still starting); ``context`` adds something to read on failure (a log tail)."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = time.monotonic() > deadline
        try:
            result = check()
        except ignore:
            result = None  # type: ignore[assignment]
        if result:
            return result
        if last:
            more = f"\n{context()}" if context is not None else ""
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}{more}")
        time.sleep(interval_s)
