"""How the ``hall`` command stops: signals cancel the running command so every context manager
closes; a slow stop says where it is stuck; a second Ctrl-C stops at once.

``kill -USR1 <pid>`` prints every task's and thread's stack without stopping anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import io
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger("hall")


def run_until_signalled(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro``; SIGINT/SIGTERM cancel it so every context manager closes cleanly."""

    async def runner() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        stopping: list[threading.Timer] = []

        def on_signal() -> None:
            if stopping:
                # Asked twice: the operator does not want to wait for a clean stop.
                print("hall: stopping at once (second signal)", file=sys.stderr, flush=True)
                os._exit(130)
            logger.info("stopping (a second Ctrl-C stops at once) ...")
            # A stop normally takes a second or two; if it does not, say where it is stuck.
            watchdog = threading.Timer(STOP_REPORT_AFTER_S, _report_slow_stop, (loop,))
            watchdog.daemon = True
            watchdog.start()
            stopping.append(watchdog)
            task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        # `kill -USR1 <pid>`: what a hung or slow hall is doing, without stopping it.
        loop.add_signal_handler(signal.SIGUSR1, _dump_stacks)
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await coro
        finally:
            for watchdog in stopping:
                watchdog.cancel()

    asyncio.run(runner())


STOP_REPORT_AFTER_S = 10.0


def _report_slow_stop(loop: asyncio.AbstractEventLoop) -> None:
    """From a watchdog thread: every thread's stack now, and the tasks' when the loop
    gets to it (the loop itself may be what is stuck)."""
    print(f"hall: still stopping after {STOP_REPORT_AFTER_S:g} s; threads:", file=sys.stderr,
          flush=True)
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
        loop.call_soon_threadsafe(_dump_stacks)


def _dump_stacks() -> None:
    """Print every asyncio task's and every thread's stack to stderr."""
    lines = ["hall: stacks on SIGUSR1"]
    for task in asyncio.all_tasks():
        stack = io.StringIO()
        task.print_stack(file=stack)
        lines.append(f"--- task {task.get_name()}\n{stack.getvalue()}")
    for thread_id, frame in sys._current_frames().items():
        lines.append(f"--- thread {thread_id}")
        lines.extend(traceback.format_stack(frame))
    print("\n".join(line.rstrip("\n") for line in lines), file=sys.stderr, flush=True)


async def cancel_and_wait(task: asyncio.Task[Any], what: str, *, every_s: float = 3.0) -> None:
    """Cancel ``task`` and wait for it, cancelling again while it does not end: Python 3.11's
    ``asyncio.wait_for`` (aiomqtt's, for every acknowledgement) can swallow one cancellation
    (gh-86296), leaving a task that serves on; a second cancel reaches whatever it waits on."""
    task.cancel()
    while not (await asyncio.wait({task}, timeout=every_s))[0]:
        logger.warning("%s is still stopping; cancelling it again", what)
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
